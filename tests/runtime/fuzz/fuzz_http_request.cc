// libFuzzer target over the project's HTTP/1.1 server (http/server.h): the fuzz input is the
// bytes a client sends on one connection — request line, headers, bodies, chunks, pipelined
// requests, anything — written to a real Server on loopback, then the write side is shut.
//
// Invariants (abort when one breaks), besides ASan and UBSan (the server's own code runs
// instrumented on its event-loop thread):
//   - the server closes the connection: it never waits for more than the input once the client
//     has finished sending (no hang past the read timeout below);
//   - everything it writes is a sequence of well-formed HTTP/1.1 responses (Beast's response
//     parser reads them all), each with a status the server's contract names: 100 (Expect), 200
//     (the handler), 400, 413, 431, 503;
//   - after each input the server still answers a well-formed request on a new connection.
//
// The limits are small (1 KiB of headers, 4 KiB of body, 1 s deadlines) so inputs of a few KiB
// reach every refusal.
//
// Run through CTest (fuzz_tests.cmake, runtime.fuzz_http_request) or by hand:
//   fuzz_http_request -max_len=65536 -max_total_time=60 NEW_CORPUS_DIR corpus/fuzz_http_request

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/metrics.h"
#include "http/io_pool.h"
#include "http/server.h"

namespace {

namespace bhttp = boost::beast::http;

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

struct Fixture {
  kiln::metrics::Registry registry;
  kiln::http::IoPool pool{1};
  std::unique_ptr<kiln::http::Server> server;

  Fixture() {
    kiln::http::ServerOptions options;
    options.name = "fuzz";
    options.host = "127.0.0.1";
    options.max_header_bytes = 1024;
    options.max_body_bytes = 4096;
    options.header_timeout = std::chrono::milliseconds(1000);
    options.body_timeout = std::chrono::milliseconds(1000);
    options.idle_timeout = std::chrono::milliseconds(1000);
    options.request_timeout = std::chrono::milliseconds(1000);
    options.registry = &registry;
    auto started = kiln::http::Server::start(
        options, pool, kiln::http::inline_handler([](const kiln::http::Request& r) {
          kiln::http::Response out;
          out.body = "{\"method\":\"" + std::string(r.method.size() <= 16 ? r.method : "") +
                     "\",\"bytes\":" + std::to_string(r.body.size()) + "}";
          (void)r.header("x-key");
          (void)r.query();
          return out;
        }));
    check(started.ok(), "the server starts");
    server = std::move(started).value();
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture();  // Never destroyed: the loop outlives every input.
  return *f;
}

// Sends `bytes` on a new connection, shuts the write side and reads until the server closes.
// `reset` tells whether the close was a reset (the server closed with input unread), after which
// what it wrote may not all have arrived.
std::string exchange(std::uint16_t port, std::string_view bytes, bool& reset) {
  reset = false;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  check(fd >= 0, "a socket");
  timeval timeout{5, 0};  // Every deadline of the server is 1 s: 5 s is a hang.
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  check(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "the server accepts");
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // The server refused and closed: what it wrote is still readable.
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) {
      check(errno == ECONNRESET, "the server closes the connection (no hang)");
      reset = true;
      break;
    }
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer;
}

// Every response in `answer` parses, with a status of the server's contract.
void check_responses(std::string_view answer) {
  std::size_t offset = 0;
  while (offset < answer.size()) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.eager(true);
    parser.body_limit(1u << 20);
    boost::beast::error_code ec;
    std::size_t used = 0;
    std::string_view rest = answer.substr(offset);
    while (!parser.is_done()) {
      const std::size_t n = parser.put(boost::asio::buffer(rest.data() + used, rest.size() - used), ec);
      if (ec == bhttp::error::need_more) {
        check(false, "the server wrote a response cut short");
      }
      check(!ec, "the server wrote a malformed response");
      used += n;
      if (n == 0 && !parser.is_done()) {
        parser.put_eof(ec);
        check(!ec && parser.is_done(), "the server wrote a response cut short");
      }
    }
    const unsigned status = parser.get().result_int();
    check(status == 100 || status == 200 || status == 400 || status == 413 || status == 431 ||
              status == 503,
          "a status the server's contract names");
    offset += used;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fixture();
  const std::uint16_t port = f.server->port();
  bool reset = false;
  const std::string answer =
      exchange(port, std::string_view(reinterpret_cast<const char*>(data), size), reset);
  if (!reset) check_responses(answer);
  const std::string probe =
      exchange(port, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", reset);
  check(probe.starts_with("HTTP/1.1 200"), "the server still answers after the input");
  return 0;
}
