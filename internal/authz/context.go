package authz

import (
	"sync"

	"fmt"
	"slices"
	"strings"

	"github.com/palyra/palyra/internal/identity"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"

	"github.com/palyra/palyra/internal/peer"
)

// Context attributes the Engine fills in itself; a Request's Context must
// not contain them.
const (
	// attrTransport is the request's transport, on every action.
	attrTransport types.String = "transport"
	// attrDeviceID is the calling device's ULID ("" on the unix socket),
	// on every action.
	attrDeviceID types.String = "device_id"
	// attrScope is the scope of a Secret resource, or the id of a Vault
	// resource, on actions whose schema context declares it.
	attrScope types.String = "scope"
)

// transportValues are the Cedar values of the valid transports, indexed by
// peer.Transport and boxed once rather than per request. Their text is
// peer's.
var transportValues = func() (v [peer.QUIC + 1]types.Value) {
	for _, t := range []peer.Transport{peer.Unix, peer.TCP, peer.QUIC} {
		v[t] = types.String(t.String())
	}
	return v
}()

// contextRecord checks the caller-supplied attributes of req against the
// action's declared context and returns the full Cedar context record.
func (a *actionInfo) contextRecord(req *Request, transport types.Value, scope string) (types.Record, error) {
	// Most requests carry no attributes of their own, so their record
	// depends only on transport, device and scope: build it once.
	// (types.NewRecord sorts and hashes the attributes on every call.)
	if len(req.Context) == 0 && a.required == 0 && a.records != nil {
		k := recordKey{transport: transport, device: req.DeviceID, scope: scope}
		if r, ok := a.records.get(k); ok {
			return r, nil
		}
		r, err := a.buildRecord(req, transport, scope)
		if err == nil {
			a.records.put(k, r)
		}
		return r, err
	}
	return a.buildRecord(req, transport, scope)
}

// recordKey identifies a context record without caller attributes.
type recordKey struct {
	transport types.Value
	device    identity.DeviceID
	scope     string
}

// maxCachedRecords bounds a recordCache; when full it starts over.
const maxCachedRecords = 4096

// recordCache holds immutable context records, shared by concurrent
// requests.
type recordCache struct {
	mu sync.RWMutex
	m  map[recordKey]types.Record
}

func (c *recordCache) get(k recordKey) (types.Record, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.m[k]
	return r, ok
}

func (c *recordCache) put(k recordKey, r types.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedRecords {
		c.m = make(map[recordKey]types.Record)
	}
	c.m[k] = r
}

// buildRecord is contextRecord without the cache.
func (a *actionInfo) buildRecord(req *Request, transport types.Value, scope string) (types.Record, error) {
	rm := make(types.RecordMap, 3+len(req.Context))
	rm[attrTransport] = transport
	rm[attrDeviceID] = types.String(req.DeviceID)
	if a.scope {
		rm[attrScope] = types.String(scope)
	}
	required := 0
	for name, v := range req.Context {
		attr, ok := a.extra[name]
		if !ok {
			switch types.String(name) {
			case attrTransport, attrDeviceID, attrScope:
				return types.Record{}, fmt.Errorf("context attribute %q is set by the engine, not the caller", name)
			}
			return types.Record{}, fmt.Errorf("context attribute %q is not declared for action %q%s", truncate(name, 40), req.Action, a.declared())
		}
		if err := checkValue(v, attr.Type); err != nil {
			return types.Record{}, fmt.Errorf("context attribute %q of action %q: %w", name, req.Action, err)
		}
		if !attr.Optional {
			required++
		}
		rm[types.String(name)] = v
	}
	if required < a.required {
		var missing []string
		for name, attr := range a.extra {
			if _, ok := req.Context[name]; !ok && !attr.Optional {
				missing = append(missing, name+" ("+typeName(attr.Type)+")")
			}
		}
		slices.Sort(missing)
		return types.Record{}, fmt.Errorf("action %q needs context attribute(s) %s", req.Action, strings.Join(missing, ", "))
	}
	return types.NewRecord(rm), nil
}

// declared describes the caller-supplied attributes of the action for an
// error message.
func (a *actionInfo) declared() string {
	if len(a.extra) == 0 {
		return " (it takes none)"
	}
	names := make([]string, 0, len(a.extra))
	for name := range a.extra {
		names = append(names, name)
	}
	slices.Sort(names)
	return fmt.Sprintf(" (it takes %q)", names)
}

// checkValue reports whether v is a value of the schema type t.
func checkValue(v types.Value, t resolved.IsType) error {
	switch t := t.(type) {
	case resolved.StringType:
		if _, ok := v.(types.String); ok {
			return nil
		}
		return typeErr("String", v)
	case resolved.LongType:
		if _, ok := v.(types.Long); ok {
			return nil
		}
		return typeErr("Long", v)
	case resolved.BoolType:
		if _, ok := v.(types.Boolean); ok {
			return nil
		}
		return typeErr("Bool", v)
	case resolved.EntityType:
		uid, ok := v.(types.EntityUID)
		if !ok {
			return typeErr(string(t), v)
		}
		if uid.Type != types.EntityType(t) {
			return fmt.Errorf("want a %s entity, got a %s entity", t, uid.Type)
		}
		return nil
	case resolved.SetType:
		set, ok := v.(types.Set)
		if !ok {
			return typeErr("Set", v)
		}
		for elem := range set.All() {
			if err := checkValue(elem, t.Element); err != nil {
				return fmt.Errorf("set element: %w", err)
			}
		}
		return nil
	case resolved.RecordType:
		rec, ok := v.(types.Record)
		if !ok {
			return typeErr("Record", v)
		}
		for k, elem := range rec.All() {
			attr, ok := t[k]
			if !ok {
				return fmt.Errorf("record attribute %q is not declared", truncate(string(k), 40))
			}
			if err := checkValue(elem, attr.Type); err != nil {
				return fmt.Errorf("record attribute %q: %w", k, err)
			}
		}
		for k, attr := range t {
			if _, ok := rec.Get(k); !ok && !attr.Optional {
				return fmt.Errorf("record attribute %q is missing", k)
			}
		}
		return nil
	case resolved.ExtensionType:
		var ok bool
		switch t {
		case "decimal":
			_, ok = v.(types.Decimal)
		case "ipaddr":
			_, ok = v.(types.IPAddr)
		case "datetime":
			_, ok = v.(types.Datetime)
		case "duration":
			_, ok = v.(types.Duration)
		default:
			return fmt.Errorf("unsupported extension type %s", string(t))
		}
		if !ok {
			return typeErr(string(t), v)
		}
		return nil
	default:
		return fmt.Errorf("unsupported schema type %T", t)
	}
}

// typeName spells the schema type t as the Cedar schema does, e.g.
// "String" or "Set<String>".
func typeName(t resolved.IsType) string {
	switch t := t.(type) {
	case resolved.StringType:
		return "String"
	case resolved.LongType:
		return "Long"
	case resolved.BoolType:
		return "Bool"
	case resolved.EntityType:
		return string(t)
	case resolved.SetType:
		return "Set<" + typeName(t.Element) + ">"
	case resolved.RecordType:
		return "Record"
	case resolved.ExtensionType:
		return string(t)
	}
	return fmt.Sprintf("%T", t)
}

// typeErr is the error for a value that is not of type want.
func typeErr(want string, v types.Value) error {
	got := "nil"
	switch v.(type) {
	case nil:
	case types.String:
		got = "String"
	case types.Long:
		got = "Long"
	case types.Boolean:
		got = "Bool"
	case types.EntityUID:
		got = "entity"
	case types.Set:
		got = "Set"
	case types.Record:
		got = "Record"
	case types.Decimal:
		got = "decimal"
	case types.IPAddr:
		got = "ipaddr"
	case types.Datetime:
		got = "datetime"
	case types.Duration:
		got = "duration"
	default:
		got = "another type"
	}
	return fmt.Errorf("want %s, got %s", want, got)
}
