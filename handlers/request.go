package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/channel"
)

// DefaultMaxBodyBytes is the default request body limit. A pusher-js body is
// a socket id, a channel name of at most 164 characters and a few params.
const DefaultMaxBodyBytes = 8 << 10

// maxParams bounds how many extra parameters a request may carry.
const maxParams = 64

// authRequest is a parsed auth request body.
type authRequest struct {
	SocketID    string
	ChannelName string
	hasSocketID bool
	hasChannel  bool
	// Params are the other fields, as pusher-js's params and
	// paramsProvider send them.
	Params map[string]string
}

// readBody reads at most limit bytes of the body; a longer body is a 413.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	req := c.Request()
	if req.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, tooLarge(limit)
		}
		return nil, badRequest("unreadable_body", "the request body could not be read")
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

func tooLarge(limit int64) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Reason: "body_too_large",
		Message: "the request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}

// parseBody reads the fields by the body's shape, not its Content-Type:
// browsers join an app's own Content-Type to pusher-js's form type
// ("application/x-www-form-urlencoded, application/json") while the body
// stays a form, and custom authorizers post JSON objects.
func parseBody(body []byte) (*authRequest, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSON(trimmed)
	}
	return parseForm(string(trimmed))
}

func parseForm(body string) (*authRequest, error) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return nil, badRequest("malformed_body", "the body is neither a JSON object nor a valid form: %v", err)
	}
	req := &authRequest{Params: map[string]string{}}
	for name, vals := range values {
		if err := req.set(name, vals[0], len(vals)); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func parseJSON(body []byte) (*authRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("malformed_body", "the body is not valid JSON")
	}
	req := &authRequest{Params: map[string]string{}}
	seen := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest("malformed_body", "the body is not valid JSON")
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badRequest("malformed_body", "the body is not valid JSON")
		}
		seen[name]++
		value, err := jsonField(name, raw)
		if err != nil {
			return nil, err
		}
		if err := req.set(name, value, seen[name]); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("malformed_body", "the body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("malformed_body", "the body has data after the JSON object")
	}
	return req, nil
}

// jsonField returns a field's value as a string. socket_id and channel_name
// must be JSON strings. A param may also be a number or boolean, which is
// kept as its JSON text, as pusher-js would stringify it.
func jsonField(name string, raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", badRequest("malformed_body", "the body is not valid JSON")
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number, bool:
		if name == "socket_id" || name == "channel_name" {
			return "", badRequest("invalid_"+name, "%s must be a JSON string", name)
		}
		return string(raw), nil
	default:
		if name == "socket_id" || name == "channel_name" {
			return "", badRequest("invalid_"+name, "%s must be a JSON string", name)
		}
		return "", badRequest("invalid_params", "param %q must be a string, number or boolean", truncate(name))
	}
}

// set stores one field; count is how often the name occurred. A repeated
// socket_id or channel_name is rejected: pusher-js appends an app param
// named channel_name after its own, and guessing which one to sign is unsafe.
func (r *authRequest) set(name, value string, count int) error {
	switch name {
	case "socket_id":
		if count > 1 {
			return badRequest("duplicate_socket_id", "socket_id is sent more than once")
		}
		r.SocketID, r.hasSocketID = value, true
	case "channel_name":
		if count > 1 {
			return badRequest("duplicate_channel_name", "channel_name is sent more than once; an app param may not be called channel_name")
		}
		r.ChannelName, r.hasChannel = value, true
	default:
		if _, dup := r.Params[name]; dup {
			return nil
		}
		if len(r.Params) >= maxParams {
			return badRequest("too_many_params", "more than %d params", maxParams)
		}
		r.Params[name] = value
	}
	return nil
}

func (r *authRequest) validateSocketID() error {
	if !r.hasSocketID {
		return badRequest("missing_socket_id", "socket_id is required")
	}
	if err := channel.ValidateSocketID(r.SocketID); err != nil {
		return badRequest("invalid_socket_id", "%v", err)
	}
	return nil
}

func (r *authRequest) validateChannel() (channel.Kind, error) {
	if !r.hasChannel {
		return 0, badRequest("missing_channel_name", "channel_name is required")
	}
	kind, err := channel.ParseName(r.ChannelName)
	switch {
	case err == nil:
		return kind, nil
	case errors.Is(err, channel.ErrNotAuthorizable), errors.Is(err, channel.ErrNameReserved):
		return 0, badRequest("channel_not_authorizable", "%v", err)
	default:
		return 0, badRequest("invalid_channel_name", "%v", err)
	}
}

// dropParams removes the params that carried the session token.
func (r *authRequest) dropParams(names []string) {
	for _, n := range names {
		delete(r.Params, n)
	}
}

func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
