// Package api holds the protobuf definitions of Palyra's API. The generated
// Go code is committed, so building needs no protoc. To regenerate after
// editing a .proto file (protoc 3.21+, protoc-gen-go v1.36.12,
// protoc-gen-connect-go v1.19.1 on PATH), run `go generate ./api`.
package api

//go:generate protoc -I . --go_out=. --go_opt=module=github.com/palyra/palyra/api --connect-go_out=. --connect-go_opt=module=github.com/palyra/palyra/api palyra/v1/palyra.proto palyra/v1/policy.proto palyra/v1/pairing.proto palyra/v1/tools.proto palyra/v1/approvals.proto palyra/echo/v1/echo.proto
