// A Go HTTP server for `hupwatch --listen ... --notify`, standard library only.
// NOT RUN: no Go toolchain on the machine this recipe was written on.
//
// It serves on the socket hupwatch passes as fd 3 (systemd socket activation), says
// READY=1 on NOTIFY_SOCKET, and on SIGTERM stops accepting, finishes the requests in
// flight and exits 0. With github.com/coreos/go-systemd/v22 the two helpers below are
// activation.Listeners() and daemon.SdNotify(false, daemon.SdNotifyReady).
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// passedListener returns the first socket in LISTEN_FDS, after checking it is meant for us.
func passedListener() (net.Listener, error) {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, fmt.Errorf("no socket passed; run under hupwatch --listen")
	}
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err != nil || n < 1 {
		return nil, fmt.Errorf("LISTEN_FDS=%q", os.Getenv("LISTEN_FDS"))
	}
	f := os.NewFile(3, "listen-fd-3")
	defer f.Close() // FileListener works on a duplicate
	return net.FileListener(f)
}

// notify sends one sd_notify message; a no-op without NOTIFY_SOCKET.
// Go's net package maps a leading '@' to the abstract namespace itself.
func notify(msg string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	c, err := net.Dial("unixgram", path)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}

func main() {
	ln, err := passedListener()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid %d\n", os.Getpid())
	})}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		<-stop
		// Shutdown closes the listener (our copy; the socket stays with hupwatch),
		// then waits for the requests in flight.
		if err := srv.Shutdown(context.Background()); err != nil {
			log.Print(err)
		}
		close(done)
	}()

	if err := notify("READY=1"); err != nil {
		log.Print("notify: ", err)
	}
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-done
}
