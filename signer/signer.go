// Package signer builds the signed replies that pusher-js and Pusher-protocol
// servers expect. Private and encrypted replies come from pusher-http-go,
// Pusher's Go server library. Presence and sign-in replies are encoded here,
// so that their bytes match Pusher's Node server SDK.
package signer

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// MasterKeySize is the length in bytes of the end-to-end encryption master key.
const MasterKeySize = 32

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
	key    string
	secret []byte
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
	return &Signer{key: app.Key, secret: []byte(app.Secret), client: &pusher.Client{
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
	UserID string `json:"user_id"`
	// UserInfo is left out of channel_data when empty.
	UserInfo map[string]any `json:"user_info,omitempty"`
}

// UserData is the user_data that pusher.signin() sends to the server.
type UserData struct {
	ID       string         `json:"id"`
	UserInfo map[string]any `json:"user_info,omitempty"`
	// Watchlist lists the user ids whose online status this user may watch.
	Watchlist []string `json:"watchlist,omitempty"`
}

// presenceReply puts auth first, as pusher-http-go and Pusher's docs do. The
// Node SDK writes channel_data first; the field values are the same bytes.
type presenceReply struct {
	Auth        string `json:"auth"`
	ChannelData string `json:"channel_data"`
}

type userReply struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// Presence returns the {"auth","channel_data"} reply for a presence channel.
//
// pusher-http-go cannot build this reply: its MemberData carries user_info
// as a map of strings only, and encoding/json's default HTML escaping makes
// channel_data differ from what the Node SDK signs for names with <, > or &.
// So channel_data is encoded here without HTML escaping and signed with the
// same HMAC-SHA256 over "<socket_id>:<channel>:<channel_data>".
func (s *Signer) Presence(socketID, channel string, m Member) ([]byte, error) {
	channelData, err := encodeJSON(m)
	if err != nil {
		return nil, fmt.Errorf("encode channel_data for %s: %w", channel, err)
	}
	reply := presenceReply{ChannelData: string(channelData), Auth: s.sign(socketID + ":" + channel + ":" + string(channelData))}
	return encodeJSON(reply)
}

// User returns the {"auth","user_data"} reply for pusher.signin(), signed
// over "<socket_id>::user::<user_data>". It is built here, not by
// pusher-http-go, for the same encoding reasons as Presence.
func (s *Signer) User(socketID string, u UserData) ([]byte, error) {
	if u.ID == "" {
		return nil, errors.New("sign user auth: empty user id")
	}
	userData, err := encodeJSON(u)
	if err != nil {
		return nil, fmt.Errorf("encode user_data: %w", err)
	}
	reply := userReply{Auth: s.sign(socketID + "::user::" + string(userData)), UserData: string(userData)}
	return encodeJSON(reply)
}

// sign returns "<key>:<hex HMAC-SHA256 of stringToSign>", the auth value of
// every reply (Pusher docs, "Auth signatures").
func (s *Signer) sign(stringToSign string) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(stringToSign))
	return s.key + ":" + hex.EncodeToString(mac.Sum(nil))
}

// encodeJSON encodes v like JSON.stringify does for the same data: no HTML
// escaping, U+2028 and U+2029 written as they are, and no trailing newline.
// Map keys come out sorted.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return unescapeLineSeparators(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// unescapeLineSeparators turns the \u2028 and \u2029 escapes that
// encoding/json always writes back into the characters. An escape is one
// preceded by an even number of backslashes; after an odd number, the text
// is a literal backslash followed by "u2028".
func unescapeLineSeparators(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u202`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+5 < len(b) && string(b[i+1:i+5]) == "u202" && (b[i+5] == '8' || b[i+5] == '9') {
			backslashes := 0
			for j := len(out) - 1; j >= 0 && out[j] == '\\'; j-- {
				backslashes++
			}
			if backslashes%2 == 0 {
				if b[i+5] == '8' {
					out = append(out, "\u2028"...)
				} else {
					out = append(out, "\u2029"...)
				}
				i += 5
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

func channelParams(socketID, channel string) []byte {
	return []byte("socket_id=" + url.QueryEscape(socketID) + "&channel_name=" + url.QueryEscape(channel))
}
