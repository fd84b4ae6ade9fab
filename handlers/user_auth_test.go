package handlers

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pusher-authd/pusher-authd/policy"
)

func TestUserAuthReplies(t *testing.T) {
	tests := []struct {
		name   string
		app    appOptions
		claims jwt.MapClaims
		body   string
		want   string
	}{
		{
			name:   "string subject",
			claims: jwt.MapClaims{"sub": "user-1", "name": "User One"},
			body:   "socket_id=1234.1234",
			want: `{"auth":"278d425bdf160c739803:426d04b988f1c83b5d40775ca0980d0c0c49f6a386b8c23aaaf688c21c563650",` +
				`"user_data":"{\"id\":\"user-1\"}"}`,
		},
		{
			name:   "numeric subject becomes a string id",
			claims: jwt.MapClaims{"sub": 42},
			body:   "socket_id=1234.1234",
			want:   `"user_data":"{\"id\":\"42\"}"}`,
		},
		{
			name:   "published vector with app key and secret",
			app:    appOptions{key: "key", secret: "secret"},
			claims: jwt.MapClaims{"sub": "1234"},
			body:   "socket_id=12345.12345",
			want:   `{"auth":"key:e4c63b82c1e1d0955901f6a29ca51b244155bafda93968bc5664010f5ba54a41","user_data":"{\"id\":\"1234\"}"}`,
		},
		{
			name: "user info and watchlist",
			app: appOptions{signIn: policy.SignInSpec{
				UserID: "claims.uid", UserInfo: "{'name': claims.name}", Watchlist: "claims.friends"}},
			claims: jwt.MapClaims{"sub": "ignored", "uid": "12345", "name": "Ada", "friends": []any{"1", 2}},
			body:   "socket_id=1234.1234",
			want: `{"auth":"278d425bdf160c739803:bf18e7ad38d6ffa5c90f8675c217cae59f5aa13959d32c085b78a4c40fd2c60e",` +
				`"user_data":"{\"id\":\"12345\",\"user_info\":{\"name\":\"Ada\"},\"watchlist\":[\"1\",\"2\"]}"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newTestEcho(t, newTestApp(t, tc.app))
			rec := do(t, e, request{path: "/pusher/user-auth", contentType: formType, body: tc.body, token: signSession(t, tc.claims)})
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			got := rec.Body.String()
			if len(tc.want) > 0 && tc.want[0] == '{' {
				if got != tc.want {
					t.Errorf("reply\n got %s\nwant %s", got, tc.want)
				}
			} else if len(got) < len(tc.want) || got[len(got)-len(tc.want):] != tc.want {
				t.Errorf("reply %s, want it to end with %s", got, tc.want)
			}
		})
	}
}

func TestUserAuthRejections(t *testing.T) {
	tests := []struct {
		name       string
		signIn     policy.SignInSpec
		claims     jwt.MapClaims
		body       string
		wantStatus int
		wantReason string
	}{
		{name: "missing socket id", claims: jwt.MapClaims{"sub": "u"}, body: "", wantStatus: 400, wantReason: "missing_socket_id"},
		{name: "subject outside channel alphabet", claims: jwt.MapClaims{"sub": "auth0|abc123"}, body: "socket_id=1.1",
			wantStatus: 403, wantReason: "user_id_not_channel_safe"},
		{name: "sign-in condition false", signIn: policy.SignInSpec{When: "claims.verified == true"},
			claims: jwt.MapClaims{"sub": "u", "verified": false}, body: "socket_id=1.1", wantStatus: 403, wantReason: "signin_condition_false"},
		{name: "missing claim in condition", signIn: policy.SignInSpec{When: "claims.verified"},
			claims: jwt.MapClaims{"sub": "u"}, body: "socket_id=1.1", wantStatus: 403, wantReason: "condition_error"},
		{name: "no subject", claims: jwt.MapClaims{"name": "x"}, body: "socket_id=1.1", wantStatus: 403, wantReason: "member_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newTestEcho(t, newTestApp(t, appOptions{signIn: tc.signIn}))
			rec := do(t, e, request{path: "/pusher/user-auth", contentType: formType, body: tc.body, token: signSession(t, tc.claims)})
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := errorReason(t, rec.Body.String()); got != tc.wantReason {
				t.Errorf("error = %q, want %q", got, tc.wantReason)
			}
		})
	}
}
