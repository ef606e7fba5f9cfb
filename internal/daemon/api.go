package daemon

import (
	"net/http"
	"strings"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

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
// is a service name. maxAnonReflectionBytes bounds the whole request stream
// of an anonymous reflection call: a few symbol lookups.
const (
	maxHealthBodyBytes     = 1 << 10
	maxAnonReflectionBytes = 4 << 10
)

// services are the names of the services the daemon serves, as health and
// reflection report them.
var services = []string{
	palyrav1connect.DaemonServiceName,
	palyrav1connect.VaultServiceName,
	palyrav1connect.DeviceServiceName,
	palyrav1connect.AuditServiceName,
	palyrav1connect.PolicyServiceName,
	palyrav1connect.PairingServiceName,
	palyrav1connect.ToolsServiceName,
	palyrav1connect.ApprovalServiceName,
}

// routes is the daemon's procedure table: everything it serves, on every
// transport.
func (d *Daemon) routes(g *guard.Guard) []guard.Route {
	_, health := grpchealth.NewHandler(grpchealth.NewStaticChecker(services...), g.HandlerOptions()...)
	reflector := grpcreflect.NewStaticReflector(services...)
	_, reflect := grpcreflect.NewHandlerV1(reflector, g.HandlerOptions()...)
	_, reflectAlpha := grpcreflect.NewHandlerV1Alpha(reflector, g.HandlerOptions()...)
	healthOnly := healthReflector()
	_, anonReflect := grpcreflect.NewHandlerV1(healthOnly, g.HandlerOptions()...)
	_, anonReflectAlpha := grpcreflect.NewHandlerV1Alpha(healthOnly, g.HandlerOptions()...)
	rs := []guard.Route{
		guard.Open(HealthCheckProcedure, maxHealthBodyBytes, health),
		guard.Meta(ReflectionProcedure, reflect, anonReflect, maxAnonReflectionBytes),
		guard.Meta(ReflectionAlphaProcedure, reflectAlpha, anonReflectAlpha, maxAnonReflectionBytes),
	}
	rs = append(rs, d.daemonRoutes(g)...)
	rs = append(rs, d.vaultRoutes(g)...)
	rs = append(rs, d.deviceRoutes(g)...)
	rs = append(rs, d.auditRoutes(g)...)
	rs = append(rs, d.policyRoutes(g)...)
	rs = append(rs, d.pairingServer().Routes(g)...)
	rs = append(rs, d.toolRoutes(g)...)
	rs = append(rs, d.approvalRoutes(g)...)
	return rs
}

// handler returns the API, behind the guard, as one http.Handler served on
// every transport.
func (d *Daemon) handler() (http.Handler, error) {
	return d.guard.Handler(d.routes(d.guard)...)
}

// healthReflector is the reflector for callers without a certificate: it
// lists the health service and resolves its descriptor, and nothing of
// Palyra's API, so that `grpcurl ADDR grpc.health.v1.Health/Check` works
// for anyone.
func healthReflector() *grpcreflect.Reflector {
	files := new(protoregistry.Files)
	if fd, err := standardHealthFile(); err == nil {
		files.RegisterFile(fd)
	}
	return grpcreflect.NewReflector(
		grpcreflect.NamerFunc(func() []string { return []string{grpchealth.HealthV1ServiceName} }),
		grpcreflect.WithDescriptorResolver(files),
		grpcreflect.WithExtensionResolver(new(protoregistry.Types)),
	)
}

// standardHealthFile is the grpc.health.v1 file descriptor. grpchealth
// registers it under the package "connectext.grpc.health.v1" (so that it
// never collides with grpc-go's registration); this renames it back to the
// standard names, which are what clients ask for.
func standardHealthFile() (protoreflect.FileDescriptor, error) {
	const hacked, standard = "connectext.grpc.health.v1", "grpc.health.v1"
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(hacked + ".Health")
	if err != nil {
		return nil, err
	}
	fdp := protodesc.ToFileDescriptorProto(d.ParentFile())
	fdp.Name = proto.String("grpc/health/v1/health.proto")
	fdp.Package = proto.String(standard)
	for _, m := range fdp.MessageType {
		for _, f := range m.Field {
			if f.TypeName != nil {
				f.TypeName = proto.String(strings.Replace(f.GetTypeName(), "."+hacked+".", "."+standard+".", 1))
			}
		}
	}
	for _, sv := range fdp.Service {
		for _, m := range sv.Method {
			m.InputType = proto.String(strings.Replace(m.GetInputType(), "."+hacked+".", "."+standard+".", 1))
			m.OutputType = proto.String(strings.Replace(m.GetOutputType(), "."+hacked+".", "."+standard+".", 1))
		}
	}
	return protodesc.NewFile(fdp, new(protoregistry.Files))
}
