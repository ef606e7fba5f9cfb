package lifecycle

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestOrder(t *testing.T) {
	var log []string
	var g Group
	for _, n := range []string{"a", "b", "c"} {
		g.Add(Component{Name: n,
			Start: func(context.Context) error { log = append(log, "start "+n); return nil },
			Stop:  func() error { log = append(log, "stop "+n); return nil }})
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	loopDone := make(chan struct{})
	g.Go("loop", func(ctx context.Context) { <-ctx.Done(); log = append(log, "loop done"); close(loopDone) })
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	<-loopDone
	want := []string{"start a", "start b", "start c", "loop done", "stop c", "stop b", "stop a"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("got %v, want %v", log, want)
	}
	if err := g.Stop(); err != nil {
		t.Fatal("second stop:", err)
	}
}

func TestFailedStartStopsWhatStarted(t *testing.T) {
	var log []string
	var g Group
	boom := errors.New("boom")
	g.Add(Component{Name: "a", Start: func(context.Context) error { log = append(log, "start a"); return nil }, Stop: func() error { log = append(log, "stop a"); return nil }})
	g.Add(Component{Name: "b", Start: func(context.Context) error { return boom }, Stop: func() error { log = append(log, "stop b"); return nil }})
	g.Add(Component{Name: "c", Start: func(context.Context) error { log = append(log, "start c"); return nil }})
	err := g.Start(context.Background())
	if !errors.Is(err, boom) || err.Error() != "start b: boom" {
		t.Fatalf("err = %v", err)
	}
	if want := []string{"start a", "stop a"}; !reflect.DeepEqual(log, want) {
		t.Fatalf("got %v, want %v", log, want)
	}
}
