package guard

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Strict codecs: the value that was authorized must be the value that runs,
// so a request with fields this API does not define — an unknown, misspelt
// or wrongly-cased JSON key, or an unknown protobuf field — is rejected
// instead of silently dropped. protojson rejects duplicate keys and invalid
// UTF-8 by itself.

var errUnknownFields = errors.New("request has fields this API does not define")

type strictProto struct{}

func (strictProto) Name() string { return "proto" }

func (strictProto) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("codec: %T is not a protobuf message", m)
	}
	return proto.Marshal(pm)
}

func (strictProto) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("codec: %T is not a protobuf message", m)
	}
	if err := proto.Unmarshal(b, pm); err != nil {
		return err
	}
	// Request messages are flat, so the top level is the only place
	// unknown fields can hide.
	if len(pm.ProtoReflect().GetUnknown()) > 0 {
		return errUnknownFields
	}
	return nil
}

// strictJSON is registered under every name connect-go gives its JSON
// codec ("json" and "json; charset=utf-8"); a name left to the default
// codec would be a way around the strict decoding.
type strictJSON struct{ name string }

// jsonCodecNames are the JSON codec names connect-go registers by default.
var jsonCodecNames = []string{"json", "json; charset=utf-8"}

func (c strictJSON) Name() string { return c.name }

func (strictJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("codec: %T is not a protobuf message", m)
	}
	return protojson.Marshal(pm)
}

func (strictJSON) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("codec: %T is not a protobuf message", m)
	}
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(b, pm)
}

// codecOptions registers the strict codecs in place of connect-go's own.
func codecOptions() []connect.HandlerOption {
	opts := []connect.HandlerOption{connect.WithCodec(strictProto{})}
	for _, n := range jsonCodecNames {
		opts = append(opts, connect.WithCodec(strictJSON{name: n}))
	}
	return opts
}
