package object

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/cofferhsm/coffer/hsm/key"
)

// Object is one managed object: identity, ownership, attributes and
// content. Attrs holds every stored attribute instance sorted by (Name,
// Index), including server-maintained ones (State, dates, Digest, …), but
// not Unique Identifier and Object Type, which come from UID and Type.
//
// Content: Secret holds the secret material (symmetric key bytes, PKCS#8
// private key, secret data, opaque data) and is nil when there is none or
// after Destroy; Public holds non-secret material (PKIX public key, DER
// certificate). Format is the KMIP Key Format Type of that content. SubType
// is the Secret Data Type, Opaque Data Type or Certificate Type. Template
// holds the attributes of a Template object. ExportFormat is the Key
// Format Type the client registered the key in, when it differs from the
// stored Format (PKCS#1 or EC Private Key for a PKCS#8 private key, PKCS#1
// for a public key, Transparent Symmetric Key for a raw key): Get exports
// in it by default and the Digest is computed over the key in it. 0 means
// Format.
type Object struct {
	UID    string
	Type   Type
	Owner  string   // identity that created the object
	Groups []string // the owner's groups at creation (authorization data)

	Attrs []Attribute

	Secret   *key.Material
	Public   []byte
	Format   KeyFormat
	SubType  uint32
	Template []Attribute

	ExportFormat KeyFormat
	// Retrieved orders the Gets of objects in an Object Group (a
	// strictly increasing stamp set by each Get; 0 = never retrieved):
	// Locate's default group member is the least recently retrieved.
	Retrieved int64
}

// DefaultFormat returns ExportFormat, or Format when it is 0.
func (o *Object) DefaultFormat() KeyFormat {
	if o.ExportFormat != 0 {
		return o.ExportFormat
	}
	return o.Format
}

// Destroy zeroizes the object's secret material.
func (o *Object) Destroy() {
	o.Secret.Destroy()
	o.Secret = nil
}

// Get returns the first instance (lowest index) of the named attribute.
func (o *Object) Get(name string) (Attribute, bool) {
	i, ok := o.find(name)
	if !ok {
		return Attribute{}, false
	}
	return o.Attrs[i], true
}

// All returns every instance of the named attribute, by index.
func (o *Object) All(name string) []Attribute {
	i, _ := o.find(name)
	j := i
	for j < len(o.Attrs) && o.Attrs[j].Name == name {
		j++
	}
	return o.Attrs[i:j:j]
}

// Date returns the value of a date attribute, or the zero time.
func (o *Object) Date(name string) time.Time {
	a, ok := o.Get(name)
	if !ok {
		return time.Time{}
	}
	t, _ := a.Value.(time.Time)
	return t
}

// StoredState returns the persisted State attribute (StatePreActive when
// absent).
func (o *Object) StoredState() State {
	if a, ok := o.Get(AttrState); ok {
		if s, ok := a.Value.(State); ok {
			return s
		}
	}
	return StatePreActive
}

// find returns the position of the first instance of name, or where it
// would be inserted.
func (o *Object) find(name string) (int, bool) {
	return slices.BinarySearchFunc(o.Attrs, name, func(a Attribute, n string) int {
		return cmp.Compare(a.Name, n)
	})
}

// Set stores v as the single instance (index 0) of name, replacing any
// existing instances. It validates v against the attribute's rule but not
// the caller's rights (see CheckClientSet).
func (o *Object) Set(name string, v any) error {
	r, err := RuleFor(name)
	if err != nil {
		return err
	}
	if err := r.Check(v); err != nil {
		return err
	}
	o.del(name)
	return o.insert(Attribute{Name: name, Index: 0, Value: normalize(v)})
}

// Add stores v as a new instance of name with the next free index
// (one more than the highest existing index) and returns that instance.
// It fails with ErrIllegal for a second instance of a single-instance
// attribute.
func (o *Object) Add(name string, v any) (Attribute, error) {
	r, err := RuleFor(name)
	if err != nil {
		return Attribute{}, err
	}
	if err := r.Check(v); err != nil {
		return Attribute{}, err
	}
	all := o.All(name)
	if len(all) > 0 && !r.Multi {
		return Attribute{}, fmt.Errorf("%w: %s already set", ErrIllegal, name)
	}
	idx := 0
	if len(all) > 0 {
		idx = all[len(all)-1].Index + 1
	}
	a := Attribute{Name: name, Index: idx, Value: normalize(v)}
	return a, o.insert(a)
}

// Replace sets the value of the instance (name, index). It fails with
// ErrNotFound when that instance does not exist.
func (o *Object) Replace(name string, index int, v any) (Attribute, error) {
	r, err := RuleFor(name)
	if err != nil {
		return Attribute{}, err
	}
	if err := r.Check(v); err != nil {
		return Attribute{}, err
	}
	i, ok := o.findIndex(name, index)
	if !ok {
		return Attribute{}, fmt.Errorf("%w: %s[%d]", ErrNotFound, name, index)
	}
	o.Attrs[i].Value = normalize(v)
	return o.Attrs[i], nil
}

// Remove deletes the instance (name, index) and returns it, or fails with
// ErrNotFound.
func (o *Object) Remove(name string, index int) (Attribute, error) {
	i, ok := o.findIndex(name, index)
	if !ok {
		return Attribute{}, fmt.Errorf("%w: %s[%d]", ErrNotFound, name, index)
	}
	a := o.Attrs[i]
	o.Attrs = slices.Delete(o.Attrs, i, i+1)
	return a, nil
}

func (o *Object) findIndex(name string, index int) (int, bool) {
	i, _ := o.find(name)
	for ; i < len(o.Attrs) && o.Attrs[i].Name == name; i++ {
		if o.Attrs[i].Index == index {
			return i, true
		}
	}
	return 0, false
}

func (o *Object) del(name string) {
	i, _ := o.find(name)
	j := i
	for j < len(o.Attrs) && o.Attrs[j].Name == name {
		j++
	}
	o.Attrs = slices.Delete(o.Attrs, i, j)
}

func (o *Object) insert(a Attribute) error {
	if len(o.Attrs) >= MaxAttrs {
		return fmt.Errorf("%w: more than %d attributes", ErrIllegal, MaxAttrs)
	}
	i, _ := slices.BinarySearchFunc(o.Attrs, a, compareAttr)
	o.Attrs = slices.Insert(o.Attrs, i, a)
	return nil
}

func compareAttr(a, b Attribute) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// Attributes returns all attributes as KMIP Get Attributes reports them:
// Unique Identifier and Object Type first, then the stored ones. The
// State is the effective state at now (date-driven transitions applied).
func (o *Object) Attributes(now time.Time) []Attribute {
	out := make([]Attribute, 0, len(o.Attrs)+2)
	out = append(out,
		Attribute{Name: AttrUniqueIdentifier, Value: o.UID},
		Attribute{Name: AttrObjectType, Value: o.Type})
	st := o.EffectiveState(now)
	for _, a := range o.Attrs {
		if a.Name == AttrState {
			a.Value = st
		}
		out = append(out, a)
	}
	return out
}
