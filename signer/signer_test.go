package signer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"
)

const (
	docsKey    = "278d425bdf160c739803"
	docsSecret = "7ad3773142a6692b25b8"
	nodeMaster = "zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU="
)

func newSigner(t *testing.T, key, secret string) *Signer {
	t.Helper()
	s, err := New(App{ID: "1", Key: key, Secret: secret, MasterKeyBase64: nodeMaster})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestPublishedVectors(t *testing.T) {
	docs := newSigner(t, docsKey, docsSecret)
	node := newSigner(t, "f00d", "tofu")
	goSDK := newSigner(t, "key", "secret")

	tests := []struct {
		name string
		sign func() ([]byte, error)
		want string
	}{
		{"V1 private", func() ([]byte, error) { return docs.Channel("1234.1234", "private-foobar") },
			`{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`},
		{"V3 presence with string id", func() ([]byte, error) {
			return docs.Presence("1234.1234", "presence-foobar", Member{UserID: "10", UserInfo: map[string]any{"name": "Mr. Channels"}})
		}, `{"auth":"278d425bdf160c739803:4c6d8fc42a207ba96a0779844171b0bb819d96ffceef9609f5cce596ab17a800",` +
			`"channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Mr. Channels\"}}"}`},
		{"V4 presence", func() ([]byte, error) {
			return docs.Presence("1234.1234", "presence-foobar", Member{UserID: "10", UserInfo: map[string]any{"name": "Mr. Pusher"}})
		}, `{"auth":"278d425bdf160c739803:48dac51d2d7569e1e9c0f48c227d4b26f238fa68e5c0bb04222c966909c4f7c4",` +
			`"channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Mr. Pusher\"}}"}`},
		{"V5 sign-in", func() ([]byte, error) { return docs.User("1234.1234", UserData{ID: "12345"}) },
			`{"auth":"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba","user_data":"{\"id\":\"12345\"}"}`},
		{"V6 sign-in", func() ([]byte, error) { return goSDK.User("12345.12345", UserData{ID: "1234"}) },
			`{"auth":"key:e4c63b82c1e1d0955901f6a29ca51b244155bafda93968bc5664010f5ba54a41","user_data":"{\"id\":\"1234\"}"}`},
		{"V7 encrypted", func() ([]byte, error) { return node.Channel("123.456", "private-encrypted-bla") },
			`{"auth":"f00d:43d808e37d261f4e02402a739649ba29a6854cb978efdbc92892cd744c567030","shared_secret":"nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ="}`},
		{"V9 encrypted", func() ([]byte, error) { return docs.Channel("1234.1234", "private-encrypted-foobar") },
			`{"auth":"278d425bdf160c739803:e6a18892d037c5d5e76a2265df4f086ffc38631605530dfd214aa5bff495f533","shared_secret":"AWykI0LdIogmHc8RemnT6ERNSn3VSQeaf8imb9u8U/I="}`},
		{"sign-in with user_info and watchlist", func() ([]byte, error) {
			return docs.User("1234.1234", UserData{ID: "12345", UserInfo: map[string]any{"name": "Ada"}, Watchlist: []string{"1", "2"}})
		}, `{"auth":"278d425bdf160c739803:bf18e7ad38d6ffa5c90f8675c217cae59f5aa13959d32c085b78a4c40fd2c60e",` +
			`"user_data":"{\"id\":\"12345\",\"user_info\":{\"name\":\"Ada\"},\"watchlist\":[\"1\",\"2\"]}"}`},
		{"large socket id", func() ([]byte, error) {
			return docs.Channel("18446744073709551615.18446744073709551615", "private-foobar")
		}, `{"auth":"278d425bdf160c739803:2f5ac240e27ab854d47ec5f25dacd2af8daa95a7a2eabc6fa652090b23c226a2"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sign()
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("reply\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestMatchesPusherHTTPGo checks presence and sign-in replies, which are
// encoded here, against pusher-http-go for inputs both can express.
func TestMatchesPusherHTTPGo(t *testing.T) {
	s := newSigner(t, docsKey, docsSecret)
	client := &pusher.Client{AppID: "1", Key: docsKey, Secret: docsSecret}
	params := func(socketID, channel string) []byte {
		return []byte("socket_id=" + socketID + "&channel_name=" + channel)
	}

	for _, m := range []Member{
		{UserID: "user-1"},
		{UserID: "42", UserInfo: map[string]any{"name": "User One", "team": "ops", "avatar": "https://example.com/a.png"}},
		{UserID: "ünïcode", UserInfo: map[string]any{"name": "José"}},
	} {
		info := map[string]string{}
		for k, v := range m.UserInfo {
			info[k] = v.(string)
		}
		if len(info) == 0 {
			info = nil
		}
		want, err := client.AuthorizePresenceChannel(params("1.1", "presence-room"), pusher.MemberData{UserID: m.UserID, UserInfo: info})
		if err != nil {
			t.Fatalf("pusher-http-go AuthorizePresenceChannel: %v", err)
		}
		got, err := s.Presence("1.1", "presence-room", m)
		if err != nil {
			t.Fatalf("Presence(%+v): %v", m, err)
		}
		if string(got) != string(want) {
			t.Errorf("Presence(%+v)\n got %s\nwant %s (pusher-http-go)", m, got, want)
		}
	}

	for _, u := range []UserData{
		{ID: "1234"},
		{ID: "user-1", UserInfo: map[string]any{"name": "Ada", "level": 3.0}, Watchlist: []string{"a", "b"}},
	} {
		data := map[string]any{"id": u.ID}
		if u.UserInfo != nil {
			data["user_info"] = u.UserInfo
		}
		if u.Watchlist != nil {
			data["watchlist"] = u.Watchlist
		}
		want, err := client.AuthenticateUser([]byte("socket_id=1.1"), data)
		if err != nil {
			t.Fatalf("pusher-http-go AuthenticateUser: %v", err)
		}
		got, err := s.User("1.1", u)
		if err != nil {
			t.Fatalf("User(%+v): %v", u, err)
		}
		if string(got) != string(want) {
			t.Errorf("User(%+v)\n got %s\nwant %s (pusher-http-go)", u, got, want)
		}
	}
}

// TestHTMLCharactersAreSignedAsSent checks that channel_data with <, > and &
// is sent unescaped, as the Node SDK sends it, and that auth signs exactly
// the bytes sent.
func TestHTMLCharactersAreSignedAsSent(t *testing.T) {
	s := newSigner(t, docsKey, docsSecret)
	reply, err := s.Presence("1.1", "presence-room", Member{UserID: "u", UserInfo: map[string]any{"name": "Ada & <Bob>"}})
	if err != nil {
		t.Fatalf("Presence: %v", err)
	}
	var got struct {
		Auth        string `json:"auth"`
		ChannelData string `json:"channel_data"`
	}
	if err := json.Unmarshal(reply, &got); err != nil {
		t.Fatalf("reply %s: %v", reply, err)
	}
	if want := `{"user_id":"u","user_info":{"name":"Ada & <Bob>"}}`; got.ChannelData != want {
		t.Errorf("channel_data = %s, want %s", got.ChannelData, want)
	}
	mac := hmac.New(sha256.New, []byte(docsSecret))
	mac.Write([]byte("1.1:presence-room:" + got.ChannelData))
	if want := docsKey + ":" + hex.EncodeToString(mac.Sum(nil)); got.Auth != want {
		t.Errorf("auth = %s, want %s", got.Auth, want)
	}
}

func TestNewRejectsBadCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  App
		want string
	}{
		{"empty key", App{Secret: "s"}, "app key and secret must be set"},
		{"empty secret", App{Key: "k"}, "app key and secret must be set"},
		{"master key not base64", App{Key: "k", Secret: "s", MasterKeyBase64: "%%%"}, "not valid standard base64"},
		{"master key of 33 bytes", App{Key: "k", Secret: "s", MasterKeyBase64: "VGhpcyBpcyBhIHN0cmluZyB0aGF0IGlzIDMyIGNoYXJz"}, "decodes to 33 bytes, want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.app)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%s): err = %v, want %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestEncryptedWithoutMasterKeyFails(t *testing.T) {
	s, err := New(App{Key: docsKey, Secret: docsSecret})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s.Channel("1.1", "private-encrypted-x"); err == nil {
		t.Error("Channel(private-encrypted-x) without a master key succeeded, want an error")
	}
}

func TestLineSeparatorsAreSentAsCharacters(t *testing.T) {
	s := newSigner(t, docsKey, docsSecret)
	for _, tc := range []struct {
		name string
		want string
	}{
		{"a\u2028b\u2029c", "a\u2028b\u2029c"},
		{`back\u2028slash`, `back\\u2028slash`},
		{"both \\\u2028", "both \\\\\u2028"},
	} {
		reply, err := s.User("1.1", UserData{ID: "u", UserInfo: map[string]any{"name": tc.name}})
		if err != nil {
			t.Fatalf("User: %v", err)
		}
		var got struct {
			UserData string `json:"user_data"`
		}
		if err := json.Unmarshal(reply, &got); err != nil {
			t.Fatalf("reply %s: %v", reply, err)
		}
		if want := `{"id":"u","user_info":{"name":"` + tc.want + `"}}`; got.UserData != want {
			t.Errorf("user_data for %q = %s, want %s", tc.name, got.UserData, want)
		}
		var decoded struct {
			UserInfo struct{ Name string } `json:"user_info"`
		}
		if err := json.Unmarshal([]byte(got.UserData), &decoded); err != nil || decoded.UserInfo.Name != tc.name {
			t.Errorf("user_data %s decodes to %q (%v), want %q", got.UserData, decoded.UserInfo.Name, err, tc.name)
		}
	}
}
