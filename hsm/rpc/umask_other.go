//go:build !unix

package rpc

func umask(m int) int { return m }
