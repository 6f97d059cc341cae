//go:build unix

package rpc

import "syscall"

func umask(m int) int { return syscall.Umask(m) }
