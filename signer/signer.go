// Package signer builds the signed replies that pusher-js and Pusher-protocol
// servers expect, using the official Go server library (pusher-http-go) so
// that the bytes match what Pusher's own SDK returns.
package signer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// MasterKeySize is the length in bytes of the end-to-end encryption master key.
const MasterKeySize = 32

// ErrUserInfo marks a user_info value that cannot be sent as a presence member.
var ErrUserInfo = errors.New("invalid user_info")

// App holds the credentials of one Pusher app.
type App struct {
	ID  string
	Key string
	// Secret signs every reply; it never leaves the process.
	Secret string
	// MasterKeyBase64 is base64 of 32 bytes; empty disables private-encrypted- channels.
	MasterKeyBase64 string
}

// Signer signs channel authorizations and user authentications for one app.
type Signer struct {
	client *pusher.Client
}

// New returns a Signer for app after checking its credentials.
func New(app App) (*Signer, error) {
	if app.Key == "" || app.Secret == "" {
		return nil, errors.New("app key and secret must be set")
	}
	if app.MasterKeyBase64 != "" {
		if err := ValidateMasterKey(app.MasterKeyBase64); err != nil {
			return nil, err
		}
	}
	return &Signer{client: &pusher.Client{
		AppID:                     app.ID,
		Key:                       app.Key,
		Secret:                    app.Secret,
		EncryptionMasterKeyBase64: app.MasterKeyBase64,
	}}, nil
}

// ValidateMasterKey checks that key is standard base64 of exactly 32 bytes,
// the form pusher-http-go and the other server libraries require.
func ValidateMasterKey(key string) error {
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return errors.New("not valid standard base64")
	}
	if len(raw) != MasterKeySize {
		return fmt.Errorf("decodes to %d bytes, want %d", len(raw), MasterKeySize)
	}
	return nil
}

// Channel returns the reply for a private- or private-encrypted- channel:
// {"auth"} or {"auth","shared_secret"}. Neither carries channel_data, because
// Pusher would then expect it inside the signed string.
func (s *Signer) Channel(socketID, channel string) ([]byte, error) {
	reply, err := s.client.AuthorizePrivateChannel(channelParams(socketID, channel))
	if err != nil {
		return nil, fmt.Errorf("sign channel auth for %s: %v", channel, err)
	}
	return reply, nil
}

// Member is a presence channel member as Pusher servers receive it.
type Member struct {
	UserID string
	// UserInfo is left out of channel_data when empty.
	UserInfo map[string]any
}

// Presence returns the {"auth","channel_data"} reply for a presence channel.
// pusher-http-go carries user_info as a map of strings, so string values pass
// as they are, numbers and booleans are sent as their JSON text, and nested
// lists or maps are rejected with ErrUserInfo.
func (s *Signer) Presence(socketID, channel string, m Member) ([]byte, error) {
	info, err := stringMap(m.UserInfo)
	if err != nil {
		return nil, err
	}
	member := pusher.MemberData{UserID: m.UserID, UserInfo: info}
	reply, err := s.client.AuthorizePresenceChannel(channelParams(socketID, channel), member)
	if err != nil {
		return nil, fmt.Errorf("sign presence auth for %s: %v", channel, err)
	}
	return reply, nil
}

// User returns the {"auth","user_data"} reply for pusher.signin(). userData
// must hold a non-empty string "id"; the library encodes it with sorted keys.
func (s *Signer) User(socketID string, userData map[string]any) ([]byte, error) {
	params := "socket_id=" + url.QueryEscape(socketID)
	reply, err := s.client.AuthenticateUser([]byte(params), userData)
	if err != nil {
		return nil, fmt.Errorf("sign user auth: %v", err)
	}
	return reply, nil
}

func channelParams(socketID, channel string) []byte {
	return []byte("socket_id=" + url.QueryEscape(socketID) + "&channel_name=" + url.QueryEscape(channel))
}

func stringMap(in map[string]any) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch v := v.(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		case int64:
			out[k] = strconv.FormatInt(v, 10)
		case uint64:
			out[k] = strconv.FormatUint(v, 10)
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case nil:
			return nil, fmt.Errorf("%w: user_info.%s is null", ErrUserInfo, k)
		default:
			return nil, fmt.Errorf("%w: user_info.%s is a %T, want a string, number or boolean", ErrUserInfo, k, v)
		}
	}
	return out, nil
}
