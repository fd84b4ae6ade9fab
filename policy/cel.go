package policy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
)

// DefaultCostLimit bounds the work one expression may do per request, in CEL
// cost units. A comprehension over a huge claim list stops with an error
// instead of pinning a core.
const DefaultCostLimit = 10_000

// outputKind names what an expression must produce.
type outputKind int

const (
	outputBool outputKind = iota
	outputID
	outputMap
	outputList
)

func (o outputKind) String() string {
	switch o {
	case outputBool:
		return "bool"
	case outputID:
		return "string or number"
	case outputMap:
		return "map"
	default:
		return "list"
	}
}

// newEnv returns the CEL environment of a rule: claims, channel, socket_id,
// params, captures, and each capture name as a string variable. Sign-in
// expressions get the same environment without channel captures.
func newEnv(captureNames []string) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("channel", cel.StringType),
		cel.Variable("socket_id", cel.StringType),
		cel.Variable("params", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("captures", cel.MapType(cel.StringType, cel.StringType)),
		ext.Strings(),
		ext.Encoders(),
	}
	for _, name := range captureNames {
		opts = append(opts, cel.Variable(name, cel.StringType))
	}
	return cel.NewEnv(opts...)
}

// compileExpr parses and type-checks src and returns a program bounded by
// costLimit. The static result type must fit want, or be dyn (checked again
// at evaluation).
func compileExpr(env *cel.Env, src string, want outputKind, costLimit uint64) (cel.Program, error) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, errors.New(iss.Err().Error())
	}
	if !outputFits(ast.OutputType(), want) {
		return nil, fmt.Errorf("expression returns %s, want %s", ast.OutputType(), want)
	}
	prg, err := env.Program(ast,
		cel.CostLimit(costLimit),
		cel.EvalOptions(cel.OptOptimize),
		cel.InterruptCheckFrequency(100),
	)
	if err != nil {
		return nil, err
	}
	return prg, nil
}

func outputFits(t *cel.Type, want outputKind) bool {
	if t.IsExactType(cel.DynType) {
		return true
	}
	switch want {
	case outputBool:
		return t.IsExactType(cel.BoolType)
	case outputID:
		return t.IsExactType(cel.StringType) || t.IsExactType(cel.IntType) ||
			t.IsExactType(cel.UintType) || t.IsExactType(cel.DoubleType)
	case outputMap:
		return t.Kind() == types.MapKind
	default:
		return t.Kind() == types.ListKind
	}
}

func eval(ctx context.Context, prg cel.Program, vars map[string]any) (ref.Val, error) {
	out, _, err := prg.ContextEval(ctx, vars)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func evalBool(ctx context.Context, prg cel.Program, vars map[string]any) (bool, error) {
	out, err := eval(ctx, prg, vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression returned %s, want bool", out.Type().TypeName())
	}
	return bool(b), nil
}

// evalID evaluates a user id expression; numbers become their decimal text,
// because Pusher and pusher-js expect string ids.
func evalID(ctx context.Context, prg cel.Program, vars map[string]any) (string, error) {
	out, err := eval(ctx, prg, vars)
	if err != nil {
		return "", err
	}
	return idString(out)
}

func idString(v ref.Val) (string, error) {
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Int:
		return strconv.FormatInt(int64(v), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(v), 10), nil
	case types.Double:
		f := float64(v)
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return "", errNotWholeNumber
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	default:
		return "", fmt.Errorf("id is %s, want string or number", v.Type().TypeName())
	}
}

func evalMap(ctx context.Context, prg cel.Program, vars map[string]any) (map[string]any, error) {
	out, err := eval(ctx, prg, vars)
	if err != nil {
		return nil, err
	}
	native, err := toNative(out)
	if err != nil {
		return nil, err
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expression returned %s, want map", out.Type().TypeName())
	}
	return m, nil
}

func evalIDList(ctx context.Context, prg cel.Program, vars map[string]any) ([]string, error) {
	out, err := eval(ctx, prg, vars)
	if err != nil {
		return nil, err
	}
	list, ok := out.(traits.Lister)
	if !ok {
		return nil, fmt.Errorf("expression returned %s, want list", out.Type().TypeName())
	}
	var ids []string
	for it := list.Iterator(); it.HasNext() == types.True; {
		id, err := idString(it.Next())
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// toNative turns a CEL value into the Go value encoding/json writes as the
// same JSON: map[string]any, []any, string, int64, uint64, float64, bool, nil.
func toNative(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errNotFinite
		}
		return f, nil
	case types.Bool:
		return bool(v), nil
	case types.Null:
		return nil, nil
	case traits.Mapper:
		out := map[string]any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			key := it.Next()
			k, ok := key.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key is %s, want string", key.Type().TypeName())
			}
			val, err := toNative(v.Get(key))
			if err != nil {
				return nil, err
			}
			out[string(k)] = val
		}
		return out, nil
	case traits.Lister:
		out := []any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			val, err := toNative(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("value of type %s cannot be sent as JSON", v.Type().TypeName())
	}
}

var errNotWholeNumber = errors.New("id is a number with a fraction")

// errNotFinite rejects NaN and infinities, which JSON cannot encode.
var errNotFinite = errors.New("value of type double is not finite, which JSON cannot encode")

// celFailureKinds are CEL error messages that carry the offending value
// after the prefix (a missing key, a malformed timestamp). The value may be
// a claim, so evalFailure keeps only the prefix.
var celFailureKinds = []string{
	"no such key",
	"no such attribute",
	"no such overload",
	"no matching overload",
	"operation cancelled: actual cost limit exceeded",
	"division by zero",
	"index out of bounds",
	"invalid RFC 3339 timestamp",
	"type conversion error",
	"unsupported type",
}

// ownFailureKinds start the errors of this package, which name types but
// never values, so they pass whole.
var ownFailureKinds = []string{"id is", "expression returned", "map key is", "value of type"}

// evalFailure describes an evaluation error for the log without any value
// taken from the claims.
func evalFailure(err error) string {
	msg := err.Error()
	for _, kind := range ownFailureKinds {
		if strings.HasPrefix(msg, kind) {
			return msg
		}
	}
	for _, kind := range celFailureKinds {
		if strings.HasPrefix(msg, kind) {
			return kind
		}
	}
	return "evaluation error"
}
