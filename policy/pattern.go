package policy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pusher-authd/pusher-authd/channel"
)

// namePart matches one or more channel-name characters; a capture may hold
// "-", so a UUID or a dashed id is captured whole.
const namePart = `[-a-zA-Z0-9_=@,.;]`

var identifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// reservedNames are the CEL variables of every rule and the words CEL
// reserves. A capture may not take one of them.
var reservedNames = map[string]bool{
	"claims": true, "channel": true, "socket_id": true, "params": true, "captures": true,
	"in": true, "as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true, "loop": true,
	"package": true, "namespace": true, "return": true, "var": true, "void": true, "while": true,
	"true": true, "false": true, "null": true,
}

// pattern is a compiled channel pattern: the whole name with {name} captures
// and * wildcards.
type pattern struct {
	kind    channel.Kind
	literal string // the whole pattern when it has no capture or wildcard
	re      *regexp.Regexp
	names   []string
}

// compilePattern parses a channel pattern such as "presence-room-{room}". Its
// kind comes from the literal text before the first capture or wildcard.
func compilePattern(src string) (*pattern, error) {
	if src == "" {
		return nil, fmt.Errorf("empty pattern")
	}

	var expr strings.Builder
	expr.WriteString("^")
	var names []string
	seen := map[string]bool{}
	literalEnd := -1
	prevWild := false
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '{':
			end := strings.IndexByte(src[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("capture at offset %d has no closing }", i)
			}
			name := src[i+1 : i+end]
			if !identifier.MatchString(name) {
				return nil, fmt.Errorf("capture name %q is not an identifier (letters, digits, _)", name)
			}
			if reservedNames[name] {
				return nil, fmt.Errorf("capture name %q is reserved", name)
			}
			if seen[name] {
				return nil, fmt.Errorf("capture name %q is used twice", name)
			}
			if prevWild {
				return nil, fmt.Errorf("capture {%s} directly follows another capture or *; put a literal between them", name)
			}
			seen[name] = true
			names = append(names, name)
			if literalEnd < 0 {
				literalEnd = i
			}
			fmt.Fprintf(&expr, "(?P<%s>%s+)", name, namePart)
			i += end + 1
			prevWild = true
		case c == '*':
			if prevWild {
				return nil, fmt.Errorf("* at offset %d directly follows another capture or *", i)
			}
			if literalEnd < 0 {
				literalEnd = i
			}
			expr.WriteString(namePart + "*")
			i++
			prevWild = true
		case c == '}':
			return nil, fmt.Errorf("} at offset %d has no opening {", i)
		case channel.IsNameByte(c):
			expr.WriteString(regexp.QuoteMeta(string(c)))
			i++
			prevWild = false
		default:
			return nil, fmt.Errorf("character %q at offset %d is not allowed in a channel name", c, i)
		}
	}
	expr.WriteString("$")

	prefix := src
	if literalEnd >= 0 {
		prefix = src[:literalEnd]
	}
	kind := channel.KindOf(prefix)
	if kind == channel.KindPublic {
		return nil, fmt.Errorf("pattern must start with private-, private-encrypted- or presence- before any capture or *")
	}

	p := &pattern{kind: kind, names: names}
	if literalEnd < 0 {
		if len(src) > channel.MaxNameLength {
			return nil, fmt.Errorf("pattern is longer than the %d characters a channel name may have", channel.MaxNameLength)
		}
		p.literal = src
		return p, nil
	}
	p.re = regexp.MustCompile(expr.String())
	return p, nil
}

// match reports whether name matches and returns the captured values by name.
// When captures could split a name in several ways, the leftmost capture
// takes the longest value.
func (p *pattern) match(name string, kind channel.Kind) (map[string]string, bool) {
	if kind != p.kind {
		return nil, false
	}
	if p.re == nil {
		return nil, name == p.literal
	}
	m := p.re.FindStringSubmatch(name)
	if m == nil {
		return nil, false
	}
	captures := make(map[string]string, len(p.names))
	for i, sub := range p.re.SubexpNames() {
		if sub != "" {
			captures[sub] = m[i]
		}
	}
	return captures, true
}
