// Package fstool is the governed fs.read, fs.write and fs.list tools: thin
// adapters that decode their arguments strictly, name the absolute path for
// policy (ToolContext.cwd) and call package fsops, which keeps every
// operation inside the workspace.
package fstool

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/tool/args"
	"github.com/palyra/palyra/internal/tool/fsops"
)

// Tool names, the ids of their Tool resources.
const (
	NameRead  = "fs.read"
	NameWrite = "fs.write"
	NameList  = "fs.list"
)

// Limits.
const (
	// MaxReadBytes bounds what fs.read returns.
	MaxReadBytes = 1 << 20
	// MaxListEntries bounds what fs.list returns.
	MaxListEntries = 10000
)

// sandbox is what the result says: these tools run in the daemon, confined
// by os.Root, not in a process sandbox.
const sandbox = "none (runs in the daemon; every path opened through os.Root confined to the workspace)"

// New returns the three tools over the workspace root (absolute).
func New(root string) []tool.Tool {
	return []tool.Tool{readTool{root}, writeTool{root}, listTool{root}}
}

type pathArgs struct {
	Path string `json:"path"`
}

type writeArgs struct {
	Path        string `json:"path"`
	Content     string `json:"content"`
	Create      bool   `json:"create,omitempty"`
	Exclusive   bool   `json:"exclusive,omitempty"`
	Append      bool   `json:"append,omitempty"`
	MakeParents bool   `json:"make_parents,omitempty"`
}

// plan decodes a into dst and names the path for policy.
func plan(name, root string, raw []byte, a any, rel *string) (*tool.Plan, error) {
	if err := args.Decode(raw, a); err != nil {
		return nil, err
	}
	if *rel == "" {
		*rel = "."
	}
	abs, err := fsops.Path(root, *rel)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tool.ErrInvalid, err)
	}
	return &tool.Plan{Tool: name, Hash: tool.Hash(name, a), Spec: a, Context: tool.Context{Cwd: abs}}, nil
}

func result(start time.Time, limits []string, out []byte, details map[string]string) *tool.Result {
	r := &tool.Result{Wall: time.Since(start), Limits: limits, Sandbox: sandbox, Stdout: redact.Patterns().Bytes(out), Details: details}
	r.HashOutput()
	return r
}

type readTool struct{ root string }

func (readTool) Name() string { return NameRead }
func (readTool) Describe() tool.Description {
	return tool.Description{Name: NameRead, Summary: "read a regular file inside the workspace (at most 1 MiB returned)",
		Arguments: []tool.Argument{{Name: "path", Type: "string", Required: true, Doc: "relative to the workspace, '/' separated, no '..'"}}}
}
func (t readTool) Plan(raw []byte) (*tool.Plan, error) {
	var a pathArgs
	return plan(NameRead, t.root, raw, &a, &a.Path)
}
func (t readTool) Run(_ context.Context, p *tool.Plan, _ map[string][]byte) (*tool.Result, error) {
	start := time.Now()
	r, err := fsops.Read(t.root, p.Spec.(*pathArgs).Path, MaxReadBytes)
	if err != nil {
		return nil, err
	}
	res := result(start, []string{"read=" + strconv.Itoa(MaxReadBytes)}, r.Data, map[string]string{"size": strconv.FormatInt(r.Size, 10)})
	res.Truncated = r.Truncated
	return res, nil
}

type writeTool struct{ root string }

func (writeTool) Name() string { return NameWrite }
func (writeTool) Describe() tool.Description {
	return tool.Description{Name: NameWrite, Summary: "write a regular file inside the workspace (mode 0600)",
		Arguments: []tool.Argument{
			{Name: "path", Type: "string", Required: true, Doc: "relative to the workspace, '/' separated, no '..'"},
			{Name: "content", Type: "string", Required: true, Doc: "the bytes to write (UTF-8 text)"},
			{Name: "create", Type: "boolean", Doc: "create the file if missing"},
			{Name: "exclusive", Type: "boolean", Doc: "with create: fail if it exists"},
			{Name: "append", Type: "boolean", Doc: "append instead of replacing"},
			{Name: "make_parents", Type: "boolean", Doc: "create missing parent directories (0700)"},
		}}
}
func (t writeTool) Plan(raw []byte) (*tool.Plan, error) {
	var a writeArgs
	p, err := plan(NameWrite, t.root, raw, &a, &a.Path)
	if err == nil && a.Path == "." {
		return nil, fmt.Errorf("%w: fs.write needs a file path", tool.ErrInvalid)
	}
	if err == nil {
		p.Detail = fmt.Sprintf("write %d bytes", len(a.Content))
		for _, f := range []struct {
			on   bool
			name string
		}{{a.Append, "append"}, {a.Create, "create"}, {a.Exclusive, "exclusive"}, {a.MakeParents, "make_parents"}} {
			if f.on {
				p.Detail += ", " + f.name
			}
		}
	}
	return p, err
}
func (t writeTool) Run(_ context.Context, p *tool.Plan, _ map[string][]byte) (*tool.Result, error) {
	start := time.Now()
	a := p.Spec.(*writeArgs)
	w, err := fsops.Write(t.root, a.Path, []byte(a.Content), fsops.WriteOptions{Create: a.Create, Exclusive: a.Exclusive, Append: a.Append, MakeParents: a.MakeParents})
	if err != nil {
		return nil, err
	}
	return result(start, []string{"file=" + strconv.Itoa(fsops.DefaultMaxFileBytes)}, nil, map[string]string{
		"written": strconv.FormatInt(w.Written, 10), "size": strconv.FormatInt(w.Size, 10), "created": strconv.FormatBool(w.Created)}), nil
}

type listTool struct{ root string }

func (listTool) Name() string { return NameList }
func (listTool) Describe() tool.Description {
	return tool.Description{Name: NameList, Summary: "list a directory inside the workspace (JSON entries on stdout)",
		Arguments: []tool.Argument{{Name: "path", Type: "string", Doc: "relative to the workspace (default: the workspace)"}}}
}
func (t listTool) Plan(raw []byte) (*tool.Plan, error) {
	var a pathArgs
	return plan(NameList, t.root, raw, &a, &a.Path)
}
func (t listTool) Run(_ context.Context, p *tool.Plan, _ map[string][]byte) (*tool.Result, error) {
	start := time.Now()
	l, err := fsops.List(t.root, p.Spec.(*pathArgs).Path, MaxListEntries)
	if err != nil {
		return nil, err
	}
	type entry struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Size    int64  `json:"size"`
		Mode    string `json:"mode"`
		ModTime string `json:"mtime"`
	}
	es := make([]entry, len(l.Entries))
	for i, e := range l.Entries {
		es[i] = entry{e.Name, string(e.Type), e.Size, e.Mode.String(), e.ModTime.UTC().Format(time.RFC3339)}
	}
	out, err := json.Marshal(es)
	if err != nil {
		return nil, err
	}
	res := result(start, []string{"entries=" + strconv.Itoa(MaxListEntries)}, append(out, '\n'), map[string]string{"entries": strconv.Itoa(len(es))})
	res.Truncated = l.Truncated
	return res, nil
}
