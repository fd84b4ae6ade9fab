package session

import (
	"fmt"
	"net/http"
	"strings"
)

// SourceSpec names one place to look for the session token. Sources are tried
// in order and the first one present wins.
type SourceSpec struct {
	// Type is header, cookie or param.
	Type string `mapstructure:"type"`
	// Name is the header, cookie or parameter name.
	Name string `mapstructure:"name"`
	// Scheme, for a header, is the auth scheme before the token, such as
	// Bearer; it is compared without regard to case. Empty means the whole
	// header value is the token.
	Scheme string `mapstructure:"scheme"`
}

// DefaultSources reads the token from "Authorization: Bearer <token>".
var DefaultSources = []SourceSpec{{Type: "header", Name: "Authorization", Scheme: "Bearer"}}

type sourceType int

const (
	sourceHeader sourceType = iota
	sourceCookie
	sourceParam
)

type source struct {
	typ    sourceType
	name   string
	scheme string
}

func parseSources(specs []SourceSpec) ([]source, []string) {
	if len(specs) == 0 {
		specs = DefaultSources
	}
	var out []source
	var problems []string
	for i, s := range specs {
		path := fmt.Sprintf("session.sources[%d]", i)
		src := source{name: s.Name, scheme: s.Scheme}
		switch s.Type {
		case "header":
			src.typ = sourceHeader
			src.name = http.CanonicalHeaderKey(s.Name)
		case "cookie":
			src.typ = sourceCookie
		case "param":
			src.typ = sourceParam
		default:
			problems = append(problems, fmt.Sprintf("%s.type: unknown source %q, want header, cookie or param", path, s.Type))
			continue
		}
		if s.Name == "" {
			problems = append(problems, fmt.Sprintf("%s.name: missing", path))
		}
		if s.Scheme != "" && s.Type != "header" {
			problems = append(problems, fmt.Sprintf("%s.scheme: only a header source has a scheme", path))
		}
		out = append(out, src)
	}
	return out, problems
}

// TokenParams returns the names of the param sources, so that handlers can
// remove the token from the params passed to a policy.
func (v *Verifier) TokenParams() []string {
	var names []string
	for _, s := range v.sources {
		if s.typ == sourceParam {
			names = append(names, s.name)
		}
	}
	return names
}

// Extract returns the session token from the first configured source that is
// present in r or params. A header that repeats, or that joins several
// values with commas, is rejected rather than guessed at.
func (v *Verifier) Extract(r *http.Request, params map[string]string) (string, error) {
	for _, s := range v.sources {
		switch s.typ {
		case sourceHeader:
			values := r.Header.Values(s.name)
			if len(values) == 0 {
				continue
			}
			if len(values) > 1 {
				return "", reject(ReasonMalformedAuthorization, "header %s sent %d times", s.name, len(values))
			}
			token, ok, err := tokenFromHeader(s, values[0])
			if err != nil {
				return "", err
			}
			if ok {
				return token, nil
			}
		case sourceCookie:
			c, err := r.Cookie(s.name)
			if err != nil || c.Value == "" {
				continue
			}
			return c.Value, nil
		case sourceParam:
			if token := params[s.name]; token != "" {
				return token, nil
			}
			if token := r.URL.Query().Get(s.name); token != "" {
				return token, nil
			}
		}
	}
	return "", &Error{Reason: ReasonMissingToken, Detail: "no session token in any configured source"}
}

// tokenFromHeader returns the token in one header value; ok is false when the
// value uses another scheme, so the next source may be tried.
func tokenFromHeader(s source, value string) (token string, ok bool, err error) {
	value = strings.TrimSpace(value)
	if s.scheme != "" {
		// RFC 9110 separates the scheme from the token with spaces or tabs.
		scheme, rest, found := value, "", false
		if i := strings.IndexAny(value, " \t"); i >= 0 {
			scheme, rest, found = value[:i], value[i+1:], true
		}
		if !strings.EqualFold(scheme, s.scheme) {
			return "", false, nil
		}
		if !found {
			return "", false, reject(ReasonMalformedAuthorization, "header %s has scheme %s but no token", s.name, s.scheme)
		}
		value = strings.TrimSpace(rest)
	}
	if value == "" {
		return "", false, reject(ReasonMalformedAuthorization, "header %s is empty", s.name)
	}
	if strings.ContainsAny(value, ", \t") {
		return "", false, reject(ReasonMalformedAuthorization, "header %s holds more than one value", s.name)
	}
	return value, true, nil
}
