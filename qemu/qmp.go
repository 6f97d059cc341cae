package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// maxQMPLine bounds one QMP message read from QEMU.
const maxQMPLine = 1 << 20

// ErrQMP is returned when QEMU answers a QMP command with an error.
var ErrQMP = errors.New("qemu: qmp error")

// qmpMessage is a QMP greeting, reply or event.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
}

// qmpConn is a minimal QMP client: one command at a time, events skipped.
type qmpConn struct {
	c  net.Conn
	sc *bufio.Scanner
}

func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qemu: qmp: %w", err)
	}
	q := &qmpConn{c: c, sc: bufio.NewScanner(c)}
	q.sc.Buffer(make([]byte, 4096), maxQMPLine)
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	m, err := q.read()
	if err != nil || m.QMP == nil {
		c.Close()
		return nil, fmt.Errorf("qemu: qmp: no greeting: %v", err)
	}
	if _, err := q.execute("qmp_capabilities"); err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmpConn) read() (*qmpMessage, error) {
	if !q.sc.Scan() {
		if err := q.sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("connection closed")
	}
	var m qmpMessage
	if err := json.Unmarshal(q.sc.Bytes(), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// execute runs one QMP command and returns its "return" value.
func (q *qmpConn) execute(cmd string) (json.RawMessage, error) {
	b, _ := json.Marshal(map[string]string{"execute": cmd})
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qemu: qmp %s: %w", cmd, err)
	}
	for {
		m, err := q.read()
		if err != nil {
			return nil, fmt.Errorf("qemu: qmp %s: %w", cmd, err)
		}
		switch {
		case m.Event != "":
			continue
		case m.Error != nil:
			return nil, fmt.Errorf("%w: %s: %s: %s", ErrQMP, cmd, m.Error.Class, m.Error.Desc)
		case m.Return != nil:
			return m.Return, nil
		}
	}
}

func (q *qmpConn) Close() error { return q.c.Close() }
