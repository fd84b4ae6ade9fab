package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkRequestPath measures the whole request path through echo: body
// parsing, HS256 session verification, policy decision and signing.
func BenchmarkRequestPath(b *testing.B) {
	app := newTestApp(b, appOptions{})
	e, _ := newTestEcho(b, app)
	token := signSession(b, jwt.MapClaims{"sub": "user-1", "name": "User One"})

	for _, bc := range []struct {
		name string
		path string
		body string
	}{
		{"private", "/pusher/auth", "socket_id=1234.1234&channel_name=private-foobar"},
		{"presence", "/pusher/auth", "socket_id=1234.1234&channel_name=presence-foobar"},
		{"encrypted", "/pusher/auth", "socket_id=1234.1234&channel_name=private-encrypted-foobar"},
		{"signin", "/pusher/user-auth", "socket_id=1234.1234"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, bc.path, strings.NewReader(bc.body))
				req.Header.Set("Content-Type", formType)
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
