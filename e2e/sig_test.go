package e2e

import "syscall"

const sigwinch = syscall.SIGWINCH
