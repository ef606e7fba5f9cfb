package daemon

import (
	"net/http"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/guard"
)

// Procedures outside Palyra's own services.
const (
	// HealthCheckProcedure is the standard gRPC health check, open to
	// anyone. Watch is not served: an anonymous caller gets one answer, not
	// a stream to hold open.
	HealthCheckProcedure = "/grpc.health.v1.Health/Check"
	// ReflectionProcedure and ReflectionAlphaProcedure are gRPC server
	// reflection (v1 and the v1alpha that older tools use), for
	// authenticated callers.
	ReflectionProcedure      = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	ReflectionAlphaProcedure = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
)

// maxHealthBodyBytes bounds an anonymous health check's body: the request
// is a service name.
const maxHealthBodyBytes = 1 << 10

// services are the names of the services the daemon serves, as health and
// reflection report them.
var services = []string{
	palyrav1connect.DaemonServiceName,
	palyrav1connect.VaultServiceName,
	palyrav1connect.DeviceServiceName,
	palyrav1connect.AuditServiceName,
}

// routes is the daemon's procedure table: everything it serves, on every
// transport.
func (d *Daemon) routes(g *guard.Guard) []guard.Route {
	_, health := grpchealth.NewHandler(grpchealth.NewStaticChecker(services...), g.HandlerOptions()...)
	reflector := grpcreflect.NewStaticReflector(services...)
	_, reflect := grpcreflect.NewHandlerV1(reflector, g.HandlerOptions()...)
	_, reflectAlpha := grpcreflect.NewHandlerV1Alpha(reflector, g.HandlerOptions()...)
	rs := []guard.Route{
		guard.Open(HealthCheckProcedure, maxHealthBodyBytes, health),
		guard.Meta(ReflectionProcedure, reflect),
		guard.Meta(ReflectionAlphaProcedure, reflectAlpha),
	}
	rs = append(rs, d.daemonRoutes(g)...)
	rs = append(rs, d.vaultRoutes(g)...)
	rs = append(rs, d.deviceRoutes(g)...)
	rs = append(rs, d.auditRoutes(g)...)
	return rs
}

// handler returns the API, behind the guard, as one http.Handler served on
// every transport.
func (d *Daemon) handler() (http.Handler, error) {
	return d.guard.Handler(d.routes(d.guard)...)
}
