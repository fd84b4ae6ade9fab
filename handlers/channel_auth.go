package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/channel"
	"github.com/pusher-authd/pusher-authd/policy"
	"github.com/pusher-authd/pusher-authd/signer"
)

// ChannelAuth handles pusher-js channel authorization requests
// (channelAuthorization.endpoint) for private-, presence- and
// private-encrypted- channels.
type ChannelAuth struct {
	Endpoint
}

// Handle verifies the session, applies the policy and replies with the
// signed auth. Validation comes first (400), then the session (401), then
// the policy (403).
func (h *ChannelAuth) Handle(c echo.Context) error {
	started := time.Now()
	rec := &decisionRecord{endpoint: "channel_auth", decision: "error"}
	reply, err := h.authorize(c, rec)
	return finish(c, h.Log, h.Metrics, rec, started, reply, err)
}

func (h *ChannelAuth) authorize(c echo.Context, rec *decisionRecord) ([]byte, error) {
	app, req, err := h.readRequest(c, rec)
	if err != nil {
		return nil, err
	}
	kind, err := req.validateChannel()
	if err != nil {
		return nil, err
	}
	rec.channel, rec.kind = req.ChannelName, kind.String()

	claims, err := h.session(c, app, req, rec)
	if err != nil {
		return nil, err
	}

	d := app.Policy.Decide(c.Request().Context(), policy.Input{
		Channel:  req.ChannelName,
		Kind:     kind,
		SocketID: req.SocketID,
		Claims:   claims,
		Params:   req.Params,
	})
	rec.fromDecision(d)
	if !d.Allow {
		return nil, &apiError{Status: http.StatusForbidden, Reason: string(d.Reason),
			Message: "the policy does not allow this session on this channel"}
	}

	if kind == channel.KindPresence {
		rec.userID = d.Member.UserID
		return app.Signer.Presence(req.SocketID, req.ChannelName, signer.Member{
			UserID:   d.Member.UserID,
			UserInfo: d.Member.UserInfo,
		})
	}
	return app.Signer.Channel(req.SocketID, req.ChannelName)
}
