package handlers

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestNoSecretsInLogsOrErrors sends granted and rejected requests and checks
// that no log line and no error body holds the token, the Pusher secret, a
// signature, channel_data or user_info.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	e, logs := newTestEcho(t, newTestApp(t, appOptions{}))
	valid := signSession(t, jwt.MapClaims{"sub": "user-1", "name": "Secret Name"})
	expired := signSession(t, jwt.MapClaims{"sub": "user-1", "exp": time.Now().Add(-time.Hour).Unix()})
	forged := valid[:len(valid)-4] + "AAAA"

	var secrets []string
	var errorBodies []string
	requests := []request{
		{body: "socket_id=1.1&channel_name=private-foobar", token: valid},
		{body: "socket_id=1.1&channel_name=presence-foobar", token: valid},
		{body: "socket_id=1.1&channel_name=private-encrypted-foobar", token: valid},
		{path: "/pusher/user-auth", body: "socket_id=1.1", token: valid},
		{body: "socket_id=1.1&channel_name=private-foobar", token: expired},
		{body: "socket_id=1.1&channel_name=private-foobar", token: forged},
		{body: "socket_id=1.1&channel_name=private-vault", token: valid},
		{body: "socket_id=1.1&channel_name=private-foobar", token: valid + "," + valid},
	}
	for _, r := range requests {
		r.contentType = formType
		rec := do(t, e, r)
		var reply map[string]string
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
				t.Fatalf("reply %s is not a JSON object of strings: %v", rec.Body, err)
			}
			_, signature, _ := strings.Cut(reply["auth"], ":")
			secrets = append(secrets, signature)
			for _, k := range []string{"channel_data", "user_data", "shared_secret"} {
				if reply[k] != "" {
					secrets = append(secrets, reply[k])
				}
			}
		} else {
			errorBodies = append(errorBodies, rec.Body.String())
		}
	}
	secrets = append(secrets, valid, expired, forged, docsSecret, sessionSecret, masterKey, "Secret Name")
	for _, tok := range []string{valid, expired, forged} {
		secrets = append(secrets, tok[strings.LastIndexByte(tok, '.')+1:])
	}

	if logs.Len() == 0 {
		t.Fatal("no log output; the leak check would prove nothing")
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("log output contains secret value %.12q...", s)
		}
		for _, body := range errorBodies {
			if strings.Contains(body, s) {
				t.Errorf("error body %s contains secret value %.12q...", body, s)
			}
		}
	}
}
