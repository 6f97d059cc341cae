package hsm

import (
	"context"
	"time"

	"github.com/cofferhsm/coffer/hsm/object"
)

// API is the core's operation set. *Core implements it in-process and
// rpc.Client over hsmd's unix socket; both pass the hsmtest suite. Errors
// wrap the sentinels of this package in both implementations.
type API interface {
	Create(ctx context.Context, id Identity, t object.Type, attrs []object.Attribute) (string, error)
	CreateKeyPair(ctx context.Context, id Identity, common, priv, pub []object.Attribute) (privUID, pubUID string, err error)
	Register(ctx context.Context, id Identity, c Content, attrs []object.Attribute) (string, error)
	Get(ctx context.Context, id Identity, uid string) (*Managed, error)
	GetAttributes(ctx context.Context, id Identity, uid string, names []string) ([]object.Attribute, error)
	GetAttributeList(ctx context.Context, id Identity, uid string) ([]string, error)
	AddAttribute(ctx context.Context, id Identity, uid string, a object.Attribute) (object.Attribute, error)
	ModifyAttribute(ctx context.Context, id Identity, uid string, a object.Attribute) (object.Attribute, error)
	DeleteAttribute(ctx context.Context, id Identity, uid, name string, index int) (object.Attribute, error)
	Activate(ctx context.Context, id Identity, uid string) error
	Revoke(ctx context.Context, id Identity, uid string, reason object.RevocationReason, occurred time.Time) error
	Destroy(ctx context.Context, id Identity, uid string) error
	Locate(ctx context.Context, id Identity, q Query) ([]string, error)
	ReKey(ctx context.Context, id Identity, uid string, offset time.Duration, attrs []object.Attribute) (string, error)
	ReKeyKeyPair(ctx context.Context, id Identity, privUID string, offset time.Duration, common, priv, pub []object.Attribute) (newPriv, newPub string, err error)
	Check(ctx context.Context, id Identity, uid string, usage int32) error
	GetUsageAllocation(ctx context.Context, id Identity, uid string, count int64) error
}

var _ API = (*Core)(nil)
