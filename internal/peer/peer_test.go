package peer

import (
	"context"
	"testing"
)

func TestTransportText(t *testing.T) {
	for _, tr := range []Transport{None, Unix, TCP, QUIC} {
		b, err := tr.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Transport
		if err := back.UnmarshalText(b); err != nil || back != tr {
			t.Fatalf("%v: round trip gave %v, %v", tr, back, err)
		}
	}
	for _, bad := range []string{"TCP", "Unix", "udp", " tcp", "tcp "} {
		if _, err := ParseTransport(bad); err == nil {
			t.Errorf("ParseTransport(%q) accepted", bad)
		}
	}
	if _, err := Transport(9).MarshalText(); err == nil {
		t.Error("invalid transport marshalled")
	}
	if !TCP.Network() || !QUIC.Network() || Unix.Network() || None.Network() {
		t.Error("Network() wrong")
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("empty context has a peer")
	}
	p := Peer{Transport: QUIC, UID: -1, Remote: "127.0.0.1:1"}
	got, ok := FromContext(NewContext(context.Background(), p))
	if !ok || got != p {
		t.Fatalf("got %+v, %v", got, ok)
	}
}
