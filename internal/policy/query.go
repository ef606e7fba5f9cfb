package policy

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
)

// MaxContextBytes bounds a request context given as JSON.
const MaxContextBytes = 64 << 10

// MaxRoles bounds the roles of a query's principal.
const MaxRoles = 64

// shapeEngine is the baseline engine, used only to check the shape of a
// query's request (which does not depend on the policies).
var shapeEngine = sync.OnceValues(func() (*authz.Engine, error) { return authz.NewEngine() })

// Query is an authorization request written as text, as test cases and
// `palyra policy explain` give it. Entity references use Cedar syntax:
// `User::"alice"`, `Action::"vault.read"`, `Secret::"global/k"`.
type Query struct {
	// Principal is a User, Device or Connector entity, e.g. `User::"alice"`.
	Principal string `json:"principal"`
	// Owner is the owning user of a Device principal (required for a
	// Device, absent otherwise).
	Owner string `json:"owner,omitzero"`
	// Roles are the principal's role names (for a Device, its owner's).
	Roles []string `json:"roles,omitzero"`
	// Action is `Action::"NAME"` or the bare action name.
	Action string `json:"action"`
	// Resource is the resource entity, e.g. `Secret::"global/k"`.
	Resource string `json:"resource"`
	// Transport is "unix", "tcp" or "quic"; default "tcp" for a Device
	// principal and "unix" otherwise.
	Transport string `json:"transport,omitzero"`
	// DeviceID is the calling device; default the principal's id for a
	// Device, "" otherwise.
	DeviceID string `json:"device_id,omitzero"`
	// Context is a JSON object of the action's own context attributes, in
	// Cedar's JSON value format (strings, numbers, booleans, arrays as
	// sets, {"__entity": ...}); absent for actions that declare none.
	// Duplicate keys are rejected.
	Context jsontext.Value `json:"context,omitzero"`
}

// Request converts q to the authz.Request it names and checks it is well
// formed as authz.Engine.CheckRequest does: at most MaxRoles roles, none
// empty or repeated, a principal and resource the action takes, no device
// id on unix, only the action's own context attributes. Errors say which
// field is wrong.
func (q Query) Request() (authz.Request, error) {
	var req authz.Request
	p, err := parseUID("principal", q.Principal)
	if err != nil {
		return req, err
	}
	switch string(p.Type) {
	case authz.KindUser, authz.KindConnector, authz.KindDevice:
	default:
		return req, fmt.Errorf("principal %s: want a User, Device or Connector", p)
	}
	if len(q.Roles) > MaxRoles {
		return req, fmt.Errorf("roles: %d given, at most %d", len(q.Roles), MaxRoles)
	}
	for i, r := range q.Roles {
		if r == "" {
			return req, fmt.Errorf("roles: role %d is empty", i+1)
		}
		if slices.Contains(q.Roles[:i], r) {
			return req, fmt.Errorf("roles: %q given twice", truncate(r, 40))
		}
	}
	req.Principal = authz.Principal{Kind: string(p.Type), ID: string(p.ID), Owner: q.Owner, Roles: q.Roles}
	if req.Principal.Kind == authz.KindDevice && q.Owner == "" {
		return req, fmt.Errorf("principal %s: a Device needs its owner", p)
	}
	if req.Principal.Kind != authz.KindDevice && q.Owner != "" {
		return req, fmt.Errorf("owner: only a Device principal has an owner")
	}
	name := q.Action
	if strings.Contains(name, "::") {
		a, err := parseUID("action", name)
		if err != nil {
			return req, err
		}
		if a.Type != "Action" {
			return req, fmt.Errorf("action %s: want Action::\"NAME\"", a)
		}
		name = string(a.ID)
	}
	if req.Action, err = authz.ParseAction(name); err != nil {
		return req, fmt.Errorf("action: %w", err)
	}
	r, err := parseUID("resource", q.Resource)
	if err != nil {
		return req, err
	}
	req.Resource = authz.Resource{Type: string(r.Type), ID: string(r.ID)}
	transport := q.Transport
	if transport == "" {
		transport = "unix"
		if req.Principal.Kind == authz.KindDevice {
			transport = "tcp"
		}
	}
	if req.Transport, err = peer.ParseTransport(transport); err != nil || req.Transport == peer.None {
		return req, fmt.Errorf("transport %q: want unix, tcp or quic", transport)
	}
	dev := q.DeviceID
	if dev == "" && req.Principal.Kind == authz.KindDevice {
		dev = req.Principal.ID
	}
	if dev != "" {
		id, err := identity.ParseDeviceID(dev)
		if err != nil {
			return req, fmt.Errorf("device_id: %w", err)
		}
		req.DeviceID = id
	}
	if req.Context, err = ParseContext(q.Context); err != nil {
		return req, err
	}
	e, err := shapeEngine()
	if err != nil {
		return req, err
	}
	if err := e.CheckRequest(req); err != nil {
		return req, fmt.Errorf("%w%s", err, shapeHint(req))
	}
	return req, nil
}

// shapeHint says what to change for a request CheckRequest refused, for
// the mistakes a query makes most.
func shapeHint(req authz.Request) string {
	switch {
	case req.Transport == peer.Unix && req.DeviceID != "":
		return "; a request on unix has no device: drop device_id (--device-id) or give transport tcp or quic"
	case req.Principal.Kind == authz.KindDevice && string(req.DeviceID) != req.Principal.ID:
		return "; a Device principal calls as itself: drop device_id (--device-id)"
	}
	for _, k := range []string{"transport", "device_id", "scope"} {
		if _, ok := req.Context[k]; ok {
			return fmt.Sprintf("; the engine fills in context %q itself: leave it out of the context", k)
		}
	}
	return ""
}

// parseUID parses a Cedar entity reference such as `User::"alice"`.
func parseUID(field, s string) (types.EntityUID, error) {
	var uid types.EntityUID
	if s == "" {
		return uid, fmt.Errorf("%s: missing (want an entity such as User::\"alice\")", field)
	}
	if err := uid.UnmarshalCedar([]byte(s)); err != nil {
		return uid, fmt.Errorf("%s %q: want an entity such as User::\"alice\": %v", field, truncate(s, 80), err)
	}
	return uid, nil
}

// errContextNotObject is returned for a context that is not a JSON object.
var errContextNotObject = errors.New("context: want a JSON object")

// ParseContext decodes a JSON object of context attributes strictly:
// duplicate keys (at any depth), invalid UTF-8 and anything but an object
// are errors. Values follow Cedar's JSON value format. Empty input means no
// attributes (nil).
func ParseContext(data []byte) (map[string]types.Value, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	if len(data) > MaxContextBytes {
		return nil, fmt.Errorf("context: larger than %d bytes", MaxContextBytes)
	}
	if data[0] != '{' {
		return nil, errContextNotObject
	}
	var raw map[string]jsontext.Value
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("context: %v", err)
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]types.Value, len(raw))
	for k, v := range raw {
		var val types.Value
		if err := types.UnmarshalJSON(v, &val); err != nil {
			return nil, fmt.Errorf("context attribute %q: %v", truncate(k, 40), err)
		}
		out[k] = val
	}
	return out, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
