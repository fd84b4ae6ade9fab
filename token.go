package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

// newTokenCmd mints an HS-signed session token from the config's first HMAC
// key. It exists for local development and tests; production tokens come
// from the identity provider.
func newTokenCmd(configPath *string) *cobra.Command {
	var (
		subject string
		ttl     time.Duration
		claims  []string
	)
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a development session token signed with the config's HMAC key",
		Example: `  pusher-authd token --sub user-1 --claim name="User One"
  pusher-authd token --sub 42 --claim 'rooms=["lobby","ops"]' --ttl 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loaded, err := loadConfig(*configPath, offline())
			if err != nil {
				return err
			}
			tok, err := mintToken(loaded.Config, subject, ttl, claims, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&subject, "sub", "user-1", "sub claim (user id)")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "lifetime of the token")
	cmd.Flags().StringArrayVar(&claims, "claim", nil, "extra claim as name=value; a value that parses as JSON is used as JSON")
	return cmd
}

func mintToken(cfg Config, subject string, ttl time.Duration, extra []string, now time.Time) (string, error) {
	for _, is := range cfg.Session.Issuers {
		for _, k := range is.Keys {
			if k.Secret == "" || len(k.Algorithms) == 0 {
				continue
			}
			mc := jwt.MapClaims{"sub": subject, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
			if is.Issuer != "" {
				mc["iss"] = is.Issuer
			}
			if len(is.Audience) > 0 {
				mc["aud"] = is.Audience[0]
			}
			for _, c := range extra {
				name, value, ok := strings.Cut(c, "=")
				if !ok || name == "" {
					return "", fmt.Errorf("--claim %q: want name=value", c)
				}
				var parsed any
				if err := json.Unmarshal([]byte(value), &parsed); err == nil {
					mc[name] = parsed
				} else {
					mc[name] = value
				}
			}
			t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Algorithms[0]), mc)
			if k.ID != "" {
				t.Header["kid"] = k.ID
			}
			return t.SignedString([]byte(k.Secret))
		}
	}
	return "", errors.New("no issuer in session.issuers has an HMAC secret to sign with")
}
