// Command load sends auth requests to a pusher-authd on this machine for a
// fixed time and reports throughput and latency percentiles. It refuses any
// target that is not a loopback address.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080/pusher/auth", "auth endpoint URL (loopback only)")
	token := flag.String("token", "", "session token sent as Authorization: Bearer")
	body := flag.String("body", "socket_id=1234.1234&channel_name=private-user-user-1", "form body of each request")
	concurrency := flag.Int("c", 16, "concurrent connections")
	duration := flag.Duration("d", 10*time.Second, "how long to send requests")
	flag.Parse()

	if err := run(*target, *token, *body, *concurrency, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(target, token, body string, concurrency int, duration time.Duration) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("target host must be a loopback address such as 127.0.0.1")
	}
	if concurrency < 1 || concurrency > 1024 || duration <= 0 || duration > 10*time.Minute {
		return errors.New("-c must be 1..1024 and -d 1ns..10m")
	}

	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency},
	}
	deadline := time.Now().Add(duration)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		statuses  = map[int]int{}
		failures  int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			localStatus := map[int]int{}
			localFail := 0
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					localFail++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				localStatus[resp.StatusCode]++
			}
			mu.Lock()
			latencies = append(latencies, local...)
			for k, v := range localStatus {
				statuses[k] += v
			}
			failures += localFail
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(float64(len(latencies)-1)*p)]
	}
	fmt.Printf("requests %d in %s (%.0f req/s), connection errors %d, statuses %v\n",
		len(latencies), elapsed.Round(time.Millisecond), float64(len(latencies))/elapsed.Seconds(), failures, statuses)
	fmt.Printf("latency p50 %s p90 %s p99 %s max %s\n", pct(.50), pct(.90), pct(.99), pct(1))
	if failures > 0 || statuses[http.StatusOK] != len(latencies) {
		return errors.New("some requests failed or did not get 200")
	}
	return nil
}
