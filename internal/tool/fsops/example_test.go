package fsops_test

import (
	"fmt"
	"os"

	"github.com/palyra/palyra/internal/tool/fsops"
)

// An adapter passes the configured workspace as root and the caller's
// relative path; the limits come from the tool's configuration.
func Example() {
	ws, _ := os.MkdirTemp("", "workspace")
	defer os.RemoveAll(ws)

	w, err := fsops.Write(ws, "notes/todo.txt", []byte("ship it\n"), fsops.WriteOptions{Create: true, MakeParents: true})
	fmt.Println(w.Created, w.Size, err)

	r, err := fsops.Read(ws, "notes/todo.txt", 4)
	fmt.Printf("%q %d %v %v\n", r.Data, r.Size, r.Truncated, err)

	l, err := fsops.List(ws, "notes", 100)
	fmt.Println(l.Entries[0].Name, l.Entries[0].Type, l.Entries[0].Mode, err)

	_, err = fsops.Read(ws, "../etc/passwd", 100)
	fmt.Println(err)
	// Output:
	// true 8 <nil>
	// "ship" 8 true <nil>
	// todo.txt file -rw------- <nil>
	// fs.read: path refused: "../etc/passwd" has a '..' element
}
