// Package appliancetest holds the end-to-end tests of the Coffer appliance:
// they build the real image, boot it in QEMU with swtpm, enroll an admin,
// create a KMIP app through the admin API, run a vCenter-style KMIP
// conversation over the forwarded port, and check power-off, reboot,
// tampering, a corrupt key check and a power cut. They need
// qemu-system-x86_64, swtpm, depmod, mke2fs and apt-get (for the kernel
// package, cached); they skip with -short or when a tool is missing.
package appliancetest
