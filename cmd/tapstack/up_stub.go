package main

import (
	"errors"
	"io"
	"os"
)

// up runs the host until a signal arrives. (Wired once host lands.)
func up(cfg upConfig, stdout io.Writer, signals <-chan os.Signal) error {
	return errors.New("up is not wired yet")
}
