package object

import (
	"errors"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/key"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func objInState(t *testing.T, s State) *Object {
	t.Helper()
	m, _ := key.NewMaterial([]byte("0123456789abcdef"))
	o := &Object{UID: "u", Type: TypeSymmetricKey, Secret: m, Format: FormatRaw}
	if err := o.Set(AttrState, s); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestLifecycleTransitions(t *testing.T) {
	compromise := RevocationReason{Code: RevokeKeyCompromise}
	retire := RevocationReason{Code: RevokeCessationOfOperation}
	type op struct {
		name string
		do   func(o *Object) error
	}
	activate := op{"activate", func(o *Object) error { return o.Activate(t0) }}
	revokeC := op{"revoke-compromise", func(o *Object) error { return o.Revoke(compromise, t0.Add(-time.Hour), t0) }}
	revokeN := op{"revoke", func(o *Object) error { return o.Revoke(retire, time.Time{}, t0) }}
	destroy := op{"destroy", func(o *Object) error { return o.MarkDestroyed(t0) }}
	tests := []struct {
		from State
		op   op
		to   State // 0: must fail with ErrWrongState
	}{
		{StatePreActive, activate, StateActive},
		{StateActive, activate, 0},
		{StateDeactivated, activate, 0},
		{StateCompromised, activate, 0},
		{StateDestroyed, activate, 0},
		{StateDestroyedCompromised, activate, 0},

		{StatePreActive, revokeC, StateCompromised},
		{StateActive, revokeC, StateCompromised},
		{StateDeactivated, revokeC, StateCompromised},
		{StateCompromised, revokeC, 0},
		{StateDestroyed, revokeC, StateDestroyedCompromised},
		{StateDestroyedCompromised, revokeC, 0},

		{StatePreActive, revokeN, 0},
		{StateActive, revokeN, StateDeactivated},
		{StateDeactivated, revokeN, StateDeactivated},
		{StateCompromised, revokeN, 0},
		{StateDestroyed, revokeN, 0},

		{StatePreActive, destroy, StateDestroyed},
		{StateActive, destroy, 0},
		{StateDeactivated, destroy, StateDestroyed},
		{StateCompromised, destroy, StateDestroyedCompromised},
		{StateDestroyed, destroy, 0},
		{StateDestroyedCompromised, destroy, 0},
	}
	for _, tt := range tests {
		t.Run(tt.op.name, func(t *testing.T) {
			o := objInState(t, tt.from)
			err := tt.op.do(o)
			if tt.to == 0 {
				if !errors.Is(err, ErrWrongState) {
					t.Fatalf("%d: err = %v, want ErrWrongState", tt.from, err)
				}
				if o.StoredState() != tt.from {
					t.Fatalf("failed transition changed state to %d", o.StoredState())
				}
				return
			}
			if err != nil {
				t.Fatalf("%d: %v", tt.from, err)
			}
			if got := o.EffectiveState(t0); got != tt.to {
				t.Fatalf("%d -> %d, want %d", tt.from, got, tt.to)
			}
		})
	}
}

func TestRevokeSetsDatesAndReason(t *testing.T) {
	o := objInState(t, StateActive)
	occurred := t0.Add(-48 * time.Hour)
	if err := o.Revoke(RevocationReason{Code: RevokeKeyCompromise, Message: "leak"}, occurred, t0); err != nil {
		t.Fatal(err)
	}
	if !o.Date(AttrCompromiseDate).Equal(t0) || !o.Date(AttrCompromiseOccurred).Equal(occurred) {
		t.Errorf("compromise dates = %v, %v", o.Date(AttrCompromiseDate), o.Date(AttrCompromiseOccurred))
	}
	if a, ok := o.Get(AttrRevocationReason); !ok || a.Value.(RevocationReason).Message != "leak" {
		t.Errorf("revocation reason = %+v", a)
	}
	o2 := objInState(t, StateActive)
	if err := o2.Revoke(RevocationReason{Code: RevokeKeyCompromise}, time.Time{}, t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("compromise without occurrence date: err = %v, want ErrInvalid", err)
	}
	o3 := objInState(t, StateActive)
	if err := o3.Revoke(RevocationReason{Code: RevokeSuperseded}, time.Time{}, t0); err != nil {
		t.Fatal(err)
	}
	if !o3.Date(AttrDeactivationDate).Equal(t0) {
		t.Errorf("deactivation date = %v, want %v", o3.Date(AttrDeactivationDate), t0)
	}
}

func TestDestroyKeepsMetadataDropsMaterial(t *testing.T) {
	o := objInState(t, StatePreActive)
	_, _ = o.Add(AttrName, Name{Value: "keep-me", Type: NameText})
	m := o.Secret
	if err := o.MarkDestroyed(t0); err != nil {
		t.Fatal(err)
	}
	if o.Secret != nil || m.Len() != 0 {
		t.Error("secret material survived Destroy")
	}
	if _, err := m.Bytes(); !errors.Is(err, key.ErrDestroyed) {
		t.Error("material not zeroized")
	}
	if a, ok := o.Get(AttrName); !ok || a.Value.(Name).Value != "keep-me" {
		t.Error("metadata lost on Destroy")
	}
	if !o.Date(AttrDestroyDate).Equal(t0) {
		t.Error("Destroy Date not set")
	}
}

func TestDateDrivenTransitions(t *testing.T) {
	o := objInState(t, StatePreActive)
	_ = o.Set(AttrActivationDate, t0)
	_ = o.Set(AttrDeactivationDate, t0.Add(time.Hour))
	for _, tt := range []struct {
		at   time.Time
		want State
	}{
		{t0.Add(-time.Second), StatePreActive},
		{t0, StateActive},
		{t0.Add(59 * time.Minute), StateActive},
		{t0.Add(time.Hour), StateDeactivated},
	} {
		if got := o.EffectiveState(tt.at); got != tt.want {
			t.Errorf("state at %v = %d, want %d", tt.at, got, tt.want)
		}
	}
	if o.StoredState() != StatePreActive {
		t.Fatal("EffectiveState must not write")
	}
	if !o.Settle(t0.Add(2*time.Hour)) || o.StoredState() != StateDeactivated {
		t.Errorf("Settle: stored state %d, want Deactivated", o.StoredState())
	}
	if o.Settle(t0.Add(3 * time.Hour)) {
		t.Error("second Settle reported a change")
	}
}

func TestTemplateHasNoLifecycle(t *testing.T) {
	o := &Object{UID: "t", Type: TypeTemplate}
	if o.EffectiveState(t0) != 0 {
		t.Error("template has a state")
	}
	if err := o.Activate(t0); !errors.Is(err, ErrIllegal) {
		t.Errorf("activate template: %v", err)
	}
	if err := o.MarkDestroyed(t0); err != nil {
		t.Fatal(err)
	}
	if !o.Destroyed(t0) {
		t.Error("template not destroyed")
	}
}
