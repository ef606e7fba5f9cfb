package flood

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

func TestJunkInitialIsALongHeaderInitial(t *testing.T) {
	b := make([]byte, 1200)
	seen := map[string]bool{}
	for range 200 {
		junkInitial(b)
		if b[0]&0xF0 != 0xC0 {
			t.Fatalf("first byte %#x: want long header, fixed bit, type Initial", b[0])
		}
		if v := binary.BigEndian.Uint32(b[1:5]); v != 1 {
			t.Fatalf("version %#x", v)
		}
		dl := int(b[5])
		if dl < 8 || dl > 20 {
			t.Fatalf("DCID length %d", dl)
		}
		dcid := string(b[6 : 6+dl])
		if seen[dcid] {
			t.Fatal("DCID repeated")
		}
		seen[dcid] = true
		i := 6 + dl
		sl := int(b[i])
		if sl > 20 {
			t.Fatalf("SCID length %d", sl)
		}
		i += 1 + sl
		if b[i] != 0 {
			t.Fatalf("token length %d", b[i])
		}
		i++
		l := binary.BigEndian.Uint16(b[i:])
		if l>>14 != 1 || int(l&0x3FFF) != len(b)-i-2 {
			t.Fatalf("length field %#x for %d remaining bytes", l, len(b)-i-2)
		}
	}
}

func TestLoopbackOnlyAndBounded(t *testing.T) {
	ctx := context.Background()
	if _, err := (QUICInitials{Target: "192.0.2.1:443", Rate: 1, Duration: time.Second}).Run(ctx); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback QUIC target: %v", err)
	}
	if _, err := (H2RapidReset{Target: "192.0.2.1:443", Conns: 1, Duration: time.Second}).Run(ctx); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback H2 target: %v", err)
	}
	if _, err := (QUICInitials{Target: "127.0.0.1:9", Rate: 1, Duration: time.Hour}).Run(ctx); err == nil {
		t.Fatal("an hour-long flood was accepted")
	}
	if _, err := (QUICInitials{Target: "127.0.0.1:9", Rate: MaxRate + 1, Duration: time.Second}).Run(ctx); err == nil {
		t.Fatal("a rate over MaxRate was accepted")
	}
	// The budget is Rate × Duration, whatever the scheduler does: a starved
	// sender catches up but never exceeds it.
	st, err := QUICInitials{Target: "127.0.0.1:9", Rate: 1000, Duration: 200 * time.Millisecond}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Datagrams < 1 || st.Datagrams > 200 {
		t.Fatalf("200 ms at 1000/s: %d datagrams in %s, want 1..200", st.Datagrams, st.Elapsed)
	}
}
