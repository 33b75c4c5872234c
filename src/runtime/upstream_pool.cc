#include "runtime/upstream_pool.h"

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

namespace kiln::runtime {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct Target {
  std::string host;
  std::string port;
};

// "http://host[:port][/...]" -> host, port (80 when absent). nullopt for anything else.
std::optional<Target> parse_base(const std::string& base) {
  constexpr std::string_view kScheme = "http://";
  if (base.rfind(kScheme, 0) != 0) return std::nullopt;
  std::string rest = base.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty()) return std::nullopt;
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return Target{rest, "80"};
  return Target{rest.substr(0, colon), rest.substr(colon + 1)};
}

// A socket in non-blocking mode seen as Beast's SyncReadStream / SyncWriteStream, waiting in
// poll() until a deadline: Asio's own synchronous calls wait without a limit.
class DeadlineStream {
 public:
  DeadlineStream(tcp::socket& socket, std::chrono::steady_clock::time_point deadline)
      : socket_(socket), deadline_(deadline) {}

  template <class Buffers>
  std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
    return until_ready(POLLIN, ec, [&] { return socket_.read_some(buffers, ec); });
  }
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers) {
    return or_throw([&](boost::system::error_code& ec) { return read_some(buffers, ec); });
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
    return until_ready(POLLOUT, ec, [&] { return socket_.write_some(buffers, ec); });
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers) {
    return or_throw([&](boost::system::error_code& ec) { return write_some(buffers, ec); });
  }

 private:
  // Repeats the non-blocking `op` (which sets `ec`) while it would block, waiting for `events`.
  template <class Op>
  std::size_t until_ready(short events, boost::system::error_code& ec, Op op) {
    for (;;) {
      const std::size_t n = op();
      if (ec != asio::error::would_block) return n;
      if (!wait(events, ec)) return 0;
    }
  }
  // The throwing form Beast's stream concepts also ask for.
  template <class Op>
  static std::size_t or_throw(Op op) {
    boost::system::error_code ec;
    const std::size_t n = op(ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // Waits for `events` until the deadline; false with ec = timed_out when it passes.
  bool wait(short events, boost::system::error_code& ec) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline_ - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        ec = asio::error::timed_out;
        return false;
      }
      pollfd fd{socket_.native_handle(), events, 0};
      const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
      if (ready > 0) {
        ec = {};
        return true;
      }
      if (ready < 0 && errno != EINTR) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return false;
      }
    }
  }

  tcp::socket& socket_;
  const std::chrono::steady_clock::time_point deadline_;
};

HttpResponse error_response(int status, const std::string& base, const std::string& reason) {
  return {status, nlohmann::json{{"error", "upstream " + base + ": " + reason}}.dump(),
          "application/json"};
}

class Pool {
 public:
  explicit Pool(UpstreamPoolOptions options) : options_(options) {}

  HttpResponse call(const std::string& base, const HttpRequest& request) {
    const auto target = parse_base(base);
    if (!target) return error_response(502, base, "not an http:// URL");
    http::request<http::string_body> out;
    out.method(http::string_to_verb({request.method.data(), request.method.size()}));
    std::string path(request.path);
    if (!request.query.empty()) path += "?" + std::string(request.query);
    out.target(path);
    out.version(11);
    out.set(http::field::host, target->host);
    out.keep_alive(true);
    if (!request.body.empty()) {
      out.set(http::field::content_type, "application/json");
      out.body() = std::string(request.body);
    }
    out.prepare_payload();
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;  // The whole call.
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = false;
      std::unique_ptr<tcp::socket> socket = take_idle(base);
      boost::system::error_code ec;
      if (socket) {
        reused = true;
      } else {
        socket = connect(*target, ec);
        if (ec) return error_response(502, base, ec.message());
      }
      boost::beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // Passed on whole.
      DeadlineStream stream(*socket, deadline);
      http::write(stream, out, ec);
      if (!ec) http::read(stream, buffer, parser, ec);
      if (ec) {
        // A pooled connection the server had closed before this request: it failed at once and
        // no byte of a response came back, so the request is sent again on a fresh connection.
        // Never after a timeout or a partial response: the upstream may have acted on it.
        const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                            ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
        if (reused && closed && !parser.got_some() && attempt == 0) continue;
        return error_response(ec == asio::error::timed_out ? 504 : 502, base, ec.message());
      }
      auto in = parser.release();
      HttpResponse answer;
      answer.status = static_cast<int>(in.result_int());
      answer.content_type = std::string(in[http::field::content_type]);
      answer.body = std::move(in.body());
      if (in.keep_alive()) give_back(base, std::move(socket));
      return answer;
    }
    return error_response(502, base, "connection closed");
  }

 private:
  std::unique_ptr<tcp::socket> connect(const Target& target, boost::system::error_code& ec) {
    tcp::resolver resolver(io_);
    const auto endpoints = resolver.resolve(target.host, target.port, ec);
    if (ec) return nullptr;
    auto socket = std::make_unique<tcp::socket>(io_);
    asio::connect(*socket, endpoints, ec);
    if (ec) return nullptr;
    socket->set_option(tcp::no_delay(true), ec);
    socket->non_blocking(true, ec);
    if (ec) return nullptr;
    return socket;
  }

  std::unique_ptr<tcp::socket> take_idle(const std::string& base) {
    std::lock_guard lock(mutex_);
    auto& idle = idle_[base];
    if (idle.empty()) return nullptr;
    auto socket = std::move(idle.back());
    idle.pop_back();
    return socket;
  }

  void give_back(const std::string& base, std::unique_ptr<tcp::socket> socket) {
    std::lock_guard lock(mutex_);
    auto& idle = idle_[base];
    if (idle.size() < options_.max_idle_per_upstream) idle.push_back(std::move(socket));
  }

  const UpstreamPoolOptions options_;
  // Synchronous socket calls never run the context; it only owns the sockets' services.
  asio::io_context io_;
  std::mutex mutex_;  // Guards idle_.
  std::unordered_map<std::string, std::vector<std::unique_ptr<tcp::socket>>> idle_;
};

}  // namespace

UpstreamCall pooled_upstream_call(UpstreamPoolOptions options) {
  auto pool = std::make_shared<Pool>(options);
  return [pool](const std::string& base, const HttpRequest& request) -> HttpResponse {
    try {
      return pool->call(base, request);
    } catch (const std::exception& e) {
      return error_response(502, base, e.what());
    }
  };
}

}  // namespace kiln::runtime
