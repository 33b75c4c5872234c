#pragma once

// A blocking HTTP/1.1 client over one plain TCP connection, for the server tests: real sockets and
// real bytes, so a test can send what no well-behaved client sends (partial headers, pipelined
// requests, huge header lines) and watch the connection close.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace kiln::http::testing {

struct RawResponse {
  int status = 0;  // 0: the connection closed (or timed out) before a whole response.
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

class RawConnection {
 public:
  // Connects to host:port ("127.0.0.1", "::1", ...); connected() tells whether it worked.
  RawConnection(const std::string& host, std::uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends all of `bytes`; false when the connection failed (reset, closed).
  bool send(std::string_view bytes);
  // Reads one Content-Length framed response; status 0 on close or after `timeout`.
  RawResponse read_response(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // One request (method, target, body) and its response on this connection.
  RawResponse request(const std::string& method, const std::string& target,
                      const std::string& body = "");
  // Waits up to `timeout` for the server to close the connection (end of stream or reset),
  // discarding what it sends; true when it closed.
  bool wait_closed(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string buffer_;
};

// The process's resident set (VmRSS) and its peak (VmHWM) in bytes, from /proc/self/status.
std::size_t resident_bytes();
std::size_t peak_resident_bytes();
// Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs); false when not allowed.
bool reset_peak_resident();

// The value of `series` (e.g. `kiln_http_refusals_total{server="s",reason="malformed"}`) in a
// text exposition; -1 when absent.
double metric_value(const std::string& exposition, const std::string& series);

}  // namespace kiln::http::testing
