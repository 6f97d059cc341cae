package hsm

import (
	"context"
	"fmt"
	"time"

	"github.com/cofferhsm/coffer/hsm/object"
)

// Managed is an object as Get returns it. Secret is a copy owned by the
// caller: call Destroy when done.
type Managed struct {
	UID string
	Content
	Algorithm object.Algorithm // 0 when not applicable
	Length    int32            // Cryptographic Length in bits, 0 when not applicable
}

// Destroy zeroizes the secret content.
func (m *Managed) Destroy() {
	if m != nil {
		m.Secret.Destroy()
		m.Secret = nil
	}
}

// Get returns an object's content (KMIP Get): an export of key material,
// audited as such. It works in every state that still has content,
// including Pre-Active; a destroyed object is ErrNotFound. The first Get
// clears the object's Fresh attribute; a Get of an object in an Object
// Group records the retrieval (see Query.GroupMember).
func (c *Core) Get(ctx context.Context, id Identity, uid string) (m *Managed, err error) {
	defer func() {
		err = c.finish(ctx, id, "Get", err, true, uid)
		if err != nil && m != nil {
			m.Destroy()
			m = nil
		}
	}()
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	o, err := c.load(ctx, id, uid)
	if err != nil {
		return nil, err
	}
	defer o.Destroy()
	now := c.clock()
	if o.Destroyed(now) {
		return nil, fmt.Errorf("hsm: object %q is destroyed: %w", uid, ErrNotFound)
	}
	fresh, _ := attrValue[bool](o, object.AttrFresh)
	grouped := len(o.All(object.AttrObjectGroup)) > 0
	if fresh || grouped {
		// Clearing Fresh is an attribute change; the retrieval stamp is not.
		if err := c.modify(ctx, id, uid, fresh, func(o *object.Object, _ time.Time) error {
			if grouped {
				o.Retrieved = c.nextStamp()
			}
			if fresh {
				return o.Set(object.AttrFresh, false)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	m = &Managed{UID: o.UID, Content: Content{
		Type: o.Type, Format: o.Format, Secret: o.Secret, Public: o.Public,
		SubType: o.SubType, Template: o.Template, ExportFormat: o.DefaultFormat(),
	}}
	o.Secret = nil // ownership moves to m
	m.Algorithm, _ = attrValue[object.Algorithm](o, object.AttrAlgorithm)
	m.Length, _ = attrValue[int32](o, object.AttrLength)
	return m, nil
}

// GetAttributes returns the named attributes of an object, every instance
// of each (KMIP Get Attributes); names that the object lacks are omitted.
// No names means all attributes. A name given twice is ErrInvalid. It
// works on destroyed objects (their metadata is kept).
func (c *Core) GetAttributes(ctx context.Context, id Identity, uid string, names []string) (attrs []object.Attribute, err error) {
	defer func() { err = c.finish(ctx, id, "GetAttributes", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	o, err := c.load(ctx, id, uid)
	if err != nil {
		return nil, err
	}
	defer o.Destroy()
	all := o.Attributes(c.clock())
	if len(names) == 0 {
		return all, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		if want[n] {
			return nil, fmt.Errorf("hsm: attribute %.64q requested twice: %w", n, ErrInvalid)
		}
		want[n] = true
	}
	for _, a := range all {
		if want[a.Name] {
			attrs = append(attrs, a)
		}
	}
	return attrs, nil
}

// GetAttributeList returns the names of the object's attributes (KMIP Get
// Attribute List), each once.
func (c *Core) GetAttributeList(ctx context.Context, id Identity, uid string) (names []string, err error) {
	defer func() { err = c.finish(ctx, id, "GetAttributeList", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	o, err := c.load(ctx, id, uid)
	if err != nil {
		return nil, err
	}
	defer o.Destroy()
	for _, a := range o.Attributes(c.clock()) {
		if len(names) == 0 || names[len(names)-1] != a.Name {
			names = append(names, a.Name)
		}
	}
	return names, nil
}

// mayModify checks the client's right to add or modify name in state s.
func mayModify(r *object.Rule, s object.State) error {
	if r.ClientMayModify(s) {
		return nil
	}
	if r.ClientMayModify(object.StatePreActive) || r.ClientMayModify(object.StateActive) {
		return fmt.Errorf("%w: %s cannot be changed in state %d", ErrWrongState, r.Name, s)
	}
	return fmt.Errorf("%w: %s cannot be changed by a client", ErrPermission, r.Name)
}

// AddAttribute adds an attribute instance (KMIP Add Attribute) and returns
// it with its assigned index; a.Index is ignored. A second instance of a
// single-instance attribute is ErrIllegal; an attribute the client may not
// set is ErrPermission (ErrWrongState when only the current state forbids
// it).
func (c *Core) AddAttribute(ctx context.Context, id Identity, uid string, a object.Attribute) (added object.Attribute, err error) {
	defer func() { err = c.finish(ctx, id, "AddAttribute", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return added, err
	}
	r, err := object.RuleFor(a.Name)
	if err != nil {
		return added, fmt.Errorf("hsm: %w", err)
	}
	err = c.update(ctx, id, uid, func(o *object.Object, now time.Time) error {
		if err := mayModify(r, o.EffectiveState(now)); err != nil {
			return err
		}
		added, err = o.Add(a.Name, clientValue(a.Value))
		return err
	})
	return added, err
}

// ModifyAttribute replaces the value of the instance (a.Name, a.Index)
// (KMIP Modify Attribute). An attribute the object lacks is ErrInvalid, a
// missing instance ErrNotFound; rights as for AddAttribute.
func (c *Core) ModifyAttribute(ctx context.Context, id Identity, uid string, a object.Attribute) (mod object.Attribute, err error) {
	defer func() { err = c.finish(ctx, id, "ModifyAttribute", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return mod, err
	}
	r, err := object.RuleFor(a.Name)
	if err != nil {
		return mod, fmt.Errorf("hsm: %w", err)
	}
	err = c.update(ctx, id, uid, func(o *object.Object, now time.Time) error {
		if err := mayModify(r, o.EffectiveState(now)); err != nil {
			return err
		}
		if len(o.All(a.Name)) == 0 {
			return fmt.Errorf("%w: object has no %s", ErrInvalid, a.Name)
		}
		mod, err = o.Replace(a.Name, a.Index, clientValue(a.Value))
		return err
	})
	return mod, err
}

// DeleteAttribute deletes the instance (name, index) and returns it (KMIP
// Delete Attribute). Attributes a client may not delete are ErrPermission;
// a missing instance is ErrNotFound.
func (c *Core) DeleteAttribute(ctx context.Context, id Identity, uid, name string, index int) (del object.Attribute, err error) {
	defer func() { err = c.finish(ctx, id, "DeleteAttribute", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return del, err
	}
	r, err := object.RuleFor(name)
	if err != nil {
		return del, fmt.Errorf("hsm: %w", err)
	}
	err = c.update(ctx, id, uid, func(o *object.Object, now time.Time) error {
		if s := o.EffectiveState(now); !r.ClientMayDelete(s) {
			return fmt.Errorf("%w: %s cannot be deleted by a client in state %d", ErrPermission, name, s)
		}
		del, err = o.Remove(name, index)
		return err
	})
	return del, err
}

// Activate moves a Pre-Active object to Active (KMIP Activate); other
// states are ErrWrongState.
func (c *Core) Activate(ctx context.Context, id Identity, uid string) (err error) {
	defer func() { err = c.finish(ctx, id, "Activate", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return err
	}
	return c.update(ctx, id, uid, func(o *object.Object, now time.Time) error { return o.Activate(now) })
}

// Revoke revokes an object (KMIP Revoke; see object.Object.Revoke for the
// transitions). occurred is the Compromise Occurrence Date, required for
// compromise reasons and ignored otherwise.
func (c *Core) Revoke(ctx context.Context, id Identity, uid string, reason object.RevocationReason, occurred time.Time) (err error) {
	defer func() { err = c.finish(ctx, id, "Revoke", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return err
	}
	return c.update(ctx, id, uid, func(o *object.Object, now time.Time) error { return o.Revoke(reason, occurred, now) })
}

// Destroy destroys an object's content (KMIP Destroy) and keeps its
// metadata. An Active object is ErrWrongState: revoke it first.
func (c *Core) Destroy(ctx context.Context, id Identity, uid string) (err error) {
	defer func() { err = c.finish(ctx, id, "Destroy", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return err
	}
	return c.update(ctx, id, uid, func(o *object.Object, now time.Time) error { return o.MarkDestroyed(now) })
}

// GetUsageAllocation takes count units from the object's Usage Limits
// (KMIP Get Usage Allocation): the object must be Active and its Usage
// Limits Count at least count, which it is then reduced by; otherwise
// ErrPermission (ErrWrongState when not Active). An object without Usage
// Limits grants any count. count must be positive (ErrInvalid).
func (c *Core) GetUsageAllocation(ctx context.Context, id Identity, uid string, count int64) (err error) {
	defer func() { err = c.finish(ctx, id, "GetUsageAllocation", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return err
	}
	if count <= 0 {
		return fmt.Errorf("hsm: usage allocation of %d: %w", count, ErrInvalid)
	}
	return c.update(ctx, id, uid, func(o *object.Object, now time.Time) error {
		if s := o.EffectiveState(now); s != object.StateActive {
			return fmt.Errorf("%w: object is not Active", ErrWrongState)
		}
		u, ok := attrValue[object.UsageLimits](o, object.AttrUsageLimits)
		if !ok {
			return nil
		}
		if u.Count < count {
			return fmt.Errorf("%w: usage limits allow %d more, %d requested", ErrPermission, u.Count, count)
		}
		u.Count -= count
		return o.Set(object.AttrUsageLimits, u)
	})
}

// CheckError lists the attributes that made a Check fail (KMIP Check
// returns them to the client). It wraps ErrPermission.
type CheckError struct {
	Attrs []object.Attribute
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("hsm: check failed on %d attribute(s)", len(e.Attrs))
}

// Unwrap returns ErrPermission.
func (e *CheckError) Unwrap() error { return ErrPermission }

// Check verifies that an object may be used (KMIP Check): it must exist,
// not be destroyed, and its Cryptographic Usage Mask must contain every
// bit of usage (0 skips that test). Failure is a *CheckError naming the
// offending attributes.
func (c *Core) Check(ctx context.Context, id Identity, uid string, usage int32) (err error) {
	defer func() { err = c.finish(ctx, id, "Check", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return err
	}
	o, err := c.load(ctx, id, uid)
	if err != nil {
		return err
	}
	defer o.Destroy()
	now := c.clock()
	if o.Destroyed(now) {
		return fmt.Errorf("hsm: object %q is destroyed: %w", uid, ErrNotFound)
	}
	if usage != 0 {
		if m, _ := attrValue[int32](o, object.AttrUsageMask); m&usage != usage {
			return &CheckError{Attrs: []object.Attribute{{Name: object.AttrUsageMask, Value: usage}}}
		}
	}
	return nil
}
