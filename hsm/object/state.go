package object

import (
	"fmt"
	"time"
)

// EffectiveState returns the object's state as of now: the stored State
// with the date-driven transitions applied (Pre-Active becomes Active once
// the Activation Date has passed, Active becomes Deactivated once the
// Deactivation Date has passed). Templates report 0 (no state).
func (o *Object) EffectiveState(now time.Time) State {
	if !o.Type.Cryptographic() {
		return 0
	}
	s := o.StoredState()
	if s == StatePreActive {
		if d := o.Date(AttrActivationDate); !d.IsZero() && !d.After(now) {
			s = StateActive
		}
	}
	if s == StateActive {
		if d := o.Date(AttrDeactivationDate); !d.IsZero() && !d.After(now) {
			s = StateDeactivated
		}
	}
	return s
}

// Settle persists the date-driven transitions into the State attribute and
// reports whether it changed. Call it before every write.
func (o *Object) Settle(now time.Time) bool {
	if !o.Type.Cryptographic() {
		return false
	}
	s := o.EffectiveState(now)
	if _, ok := o.Get(AttrState); ok && s == o.StoredState() {
		return false
	}
	if err := o.Set(AttrState, s); err != nil {
		return false // unreachable: s is a valid State
	}
	return true
}

// Destroyed reports whether the object was destroyed (its content is gone
// and only metadata remains).
func (o *Object) Destroyed(now time.Time) bool {
	if !o.Type.Cryptographic() {
		_, ok := o.Get(AttrDestroyDate)
		return ok
	}
	return o.EffectiveState(now).Destroyed()
}

func (o *Object) setState(s State) { _ = o.Set(AttrState, s) }

func (o *Object) setDate(name string, t time.Time) error { return o.Set(name, t) }

// Activate moves a Pre-Active object to Active and sets the Activation
// Date to now. Any other state fails with ErrWrongState.
func (o *Object) Activate(now time.Time) error {
	if !o.Type.Cryptographic() {
		return fmt.Errorf("%w: object type %d has no lifecycle", ErrIllegal, o.Type)
	}
	if s := o.EffectiveState(now); s != StatePreActive {
		return fmt.Errorf("%w: activate in state %d", ErrWrongState, s)
	}
	if err := o.setDate(AttrActivationDate, now); err != nil {
		return err
	}
	o.setState(StateActive)
	return nil
}

// Revoke applies KMIP Revoke. With a compromise reason (Key Compromise, CA
// Compromise) the object becomes Compromised from Pre-Active, Active or
// Deactivated, or Destroyed Compromised from Destroyed; the Compromise Date
// is set to now and the Compromise Occurrence Date to occurred (required).
// Otherwise an Active object becomes Deactivated with its Deactivation Date
// set to now; a Deactivated object stays so (its dates are kept). Other
// transitions fail with ErrWrongState. The Revocation Reason is recorded.
func (o *Object) Revoke(r RevocationReason, occurred, now time.Time) error {
	if !o.Type.Cryptographic() {
		return fmt.Errorf("%w: object type %d has no lifecycle", ErrIllegal, o.Type)
	}
	rule, _ := RuleFor(AttrRevocationReason)
	if err := rule.Check(r); err != nil {
		return err
	}
	s := o.EffectiveState(now)
	var next State
	if r.Code.Compromise() {
		if occurred.IsZero() {
			return fmt.Errorf("%w: compromise occurrence date required", ErrInvalid)
		}
		switch s {
		case StatePreActive, StateActive, StateDeactivated:
			next = StateCompromised
		case StateDestroyed:
			next = StateDestroyedCompromised
		default:
			return fmt.Errorf("%w: revoke (compromise) in state %d", ErrWrongState, s)
		}
		if err := o.setDate(AttrCompromiseOccurred, occurred); err != nil {
			return err
		}
		if err := o.setDate(AttrCompromiseDate, now); err != nil {
			return err
		}
	} else {
		switch s {
		case StateActive:
			next = StateDeactivated
			if err := o.setDate(AttrDeactivationDate, now); err != nil {
				return err
			}
		case StateDeactivated:
			next = StateDeactivated
		default:
			return fmt.Errorf("%w: revoke in state %d", ErrWrongState, s)
		}
	}
	if err := o.Set(AttrRevocationReason, r); err != nil {
		return err
	}
	o.setState(next)
	return nil
}

// MarkDestroyed applies KMIP Destroy: Pre-Active and Deactivated objects
// become Destroyed, Compromised ones Destroyed Compromised; the secret
// material is zeroized and dropped and the Destroy Date set, while the
// metadata stays. An Active object fails with ErrWrongState (KMIP 1.1
// error table: Permission Denied), as does an already destroyed one.
// Templates are destroyed from any state.
func (o *Object) MarkDestroyed(now time.Time) error {
	if o.Destroyed(now) {
		return fmt.Errorf("%w: already destroyed", ErrWrongState)
	}
	if o.Type.Cryptographic() {
		var next State
		switch s := o.EffectiveState(now); s {
		case StatePreActive, StateDeactivated:
			next = StateDestroyed
		case StateCompromised:
			next = StateDestroyedCompromised
		default:
			return fmt.Errorf("%w: destroy in state %d", ErrWrongState, s)
		}
		o.setState(next)
	}
	if err := o.setDate(AttrDestroyDate, now); err != nil {
		return err
	}
	o.Destroy()
	o.Public = nil
	o.Template = nil
	return nil
}
