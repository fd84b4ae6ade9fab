package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/policy"
	"github.com/pusher-authd/pusher-authd/signer"
)

// UserAuth handles pusher-js user authentication requests
// (userAuthentication.endpoint, sent by pusher.signin()).
type UserAuth struct {
	Endpoint
}

// Handle verifies the session, builds user_data from the sign-in policy and
// replies with {"auth","user_data"}.
func (h *UserAuth) Handle(c echo.Context) error {
	started := time.Now()
	rec := &decisionRecord{endpoint: "user_auth", decision: "error"}
	reply, err := h.authenticate(c, rec)
	return finish(c, h.Log, h.Metrics, rec, started, reply, err)
}

func (h *UserAuth) authenticate(c echo.Context, rec *decisionRecord) ([]byte, error) {
	app, req, err := h.readRequest(c, rec)
	if err != nil {
		return nil, err
	}
	claims, err := h.session(c, app, req, rec)
	if err != nil {
		return nil, err
	}

	d := app.Policy.SignIn(c.Request().Context(), policy.Input{
		SocketID: req.SocketID,
		Claims:   claims,
		Params:   req.Params,
	})
	rec.fromDecision(d)
	if !d.Allow {
		return nil, &apiError{Status: http.StatusForbidden, Reason: string(d.Reason),
			Message: "the policy does not allow this session to sign in"}
	}
	rec.userID = d.UserData.ID

	return app.Signer.User(req.SocketID, signer.UserData{
		ID:        d.UserData.ID,
		UserInfo:  d.UserData.UserInfo,
		Watchlist: d.UserData.Watchlist,
	})
}
