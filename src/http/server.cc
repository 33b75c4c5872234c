#include "http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "common/log.h"

namespace kiln::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

std::string_view view(beast::string_view s) noexcept { return {s.data(), s.size()}; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Why a request or a connection was refused: the `reason` label of kiln_http_refusals_total.
enum class Refusal {
  kHeaderTooLarge,
  kBodyTooLarge,
  kHeaderTimeout,
  kBodyTimeout,
  kRequestTimeout,
  kConnectionLimit,
  kMalformed,
};
constexpr std::array<const char*, 7> kRefusalReasons = {
    "header_too_large", "body_too_large",   "header_timeout", "body_timeout",
    "request_timeout",  "connection_limit", "malformed"};

// The families of one registry. Registry has no lookup by name, so the families a server
// registered are remembered by registry for the next server on the same registry (a Registry
// refuses a second registration of a name). A registry that dies and another made at the same
// address registers afresh (the registration succeeds there and replaces the entry).
struct Families {
  metrics::Family<metrics::Counter>* refusals = nullptr;
  metrics::Family<metrics::Gauge>* connections = nullptr;
};

Families families_of(metrics::Registry& registry) {
  static std::mutex mutex;
  static std::unordered_map<const metrics::Registry*, Families> known;
  std::lock_guard lock(mutex);
  try {
    Families families;
    families.refusals =
        &registry.counter("kiln_http_refusals_total",
                          "HTTP requests or connections refused by a server limit (reason: "
                          "header_too_large, body_too_large, header_timeout, body_timeout, "
                          "request_timeout, connection_limit, malformed).",
                          {"server", "reason"});
    families.connections = &registry.gauge("kiln_http_connections",
                                           "HTTP connections open now.", {"server"});
    known[&registry] = families;
    return families;
  } catch (const std::invalid_argument&) {
    auto it = known.find(&registry);
    if (it != known.end()) return it->second;
    log::warn("kiln_http metrics are already registered by other code; not counting");
    return {};
  }
}

struct ServerMetrics {
  std::array<metrics::Counter*, kRefusalReasons.size()> refusals{};
  metrics::Gauge* connections = nullptr;

  void refuse(Refusal reason) const noexcept {
    if (auto* counter = refusals[static_cast<std::size_t>(reason)]) counter->inc();
  }
};

ServerMetrics make_metrics(metrics::Registry* registry, const std::string& name) {
  ServerMetrics out;
  if (registry == nullptr) return out;
  const Families families = families_of(*registry);
  if (families.refusals == nullptr) return out;
  for (std::size_t i = 0; i < kRefusalReasons.size(); ++i) {
    out.refusals[i] = &families.refusals->with({name, kRefusalReasons[i]});
  }
  out.connections = &families.connections->with({name});
  return out;
}

std::string error_json(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace);
}

Response error_response(int status, std::string_view message) {
  Response response;
  response.status = status;
  response.body = error_json(message);
  return response;
}

// A header name is a token; a value has no CR, LF or NUL. Handlers' extra headers that are not
// are dropped rather than written (no response splitting).
bool valid_header(const Header& header) noexcept {
  if (header.name.empty()) return false;
  for (char c : header.name) {
    if (c <= ' ' || c >= 127 || c == ':') return false;
  }
  for (char c : header.value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// Headers the server writes itself.
bool reserved_header(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "content-type") ||
         iequals(name, "connection") || iequals(name, "transfer-encoding");
}

void append_number(std::string& out, std::size_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

// How long a connection closed after an error answer keeps reading (and discarding) what the
// client still sends, so that closing with unread data does not reset the connection before the
// client has read the answer (nginx's lingering close).
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kReadSize = 16u << 10;

// The most a connection's read buffer holds. Beast 1.74 keeps a chunk header (with its
// extensions) and the trailer whole in the buffer and counts neither against body_limit nor
// header_limit, so this bound is what refuses an endless one (http::error::buffer_overflow).
std::size_t read_buffer_limit(const ServerOptions& options) noexcept {
  return std::max<std::size_t>(options.max_header_bytes, 64u << 10) + kReadSize;
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// Request

std::string_view Request::path() const noexcept {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const noexcept {
  std::string_view t = target;
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view Request::header(std::string_view name) const noexcept {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

// -------------------------------------------------------------------------------------------------
// The shared state of a server: what its connections need after start() returned.

namespace {

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Answers request `sequence` of this connection, from any thread; stale answers are dropped.
  virtual void deliver(std::uint64_t sequence, Response response) = 0;
  // Closes the connection on its loop (with `only_idle`, only when no request is being read,
  // handled or answered there); `done` runs there afterwards. Any thread.
  virtual void close_from_outside(bool only_idle, std::function<void()> done) = 0;
  // The loop the connection lives on.
  virtual asio::io_context::executor_type executor() = 0;
};

struct Core {
  Core(ServerOptions o, Handler h, IoPool& p, asio::io_context& loop)
      : options(std::move(o)), handler(std::move(h)), pool(p), accept_loop(loop) {}

  ServerOptions options;
  Handler handler;
  IoPool& pool;
  asio::io_context& accept_loop;  // Where the acceptor lives.
  ServerMetrics metrics;
  std::unique_ptr<asio::ssl::context> ssl;
  std::optional<tcp::acceptor> acceptor;  // Touched on accept_loop only, once started.
  std::uint16_t port = 0;
  std::atomic<std::size_t> connections{0};
  // Requests from their first byte until their answer is written (or their connection closes).
  std::atomic<std::size_t> in_flight{0};
  // begin_drain(): every answer carries Connection: close, accepting goes on.
  std::atomic<bool> closing{false};
  // stop(): no more accepting, and a connection closes instead of waiting for a request.
  std::atomic<bool> draining{false};

  // Open connections, for stop(); touched once per connection, never per request.
  // draining is set before stop() reads `open`; a connection registers only while not draining.
  std::mutex mutex;
  std::list<std::weak_ptr<ConnectionBase>> open;

  void connection_closed() noexcept {
    connections.fetch_sub(1, std::memory_order_relaxed);
    if (metrics.connections) metrics.connections->dec();
  }
};

}  // namespace

struct Responder::State {
  State(std::shared_ptr<ConnectionBase> c, std::uint64_t s)
      : connection(std::move(c)), sequence(s) {}
  ~State() {
    if (!answered.load(std::memory_order_acquire)) {
      connection->deliver(sequence,
                          error_response(500, "the handler finished without answering"));
    }
  }
  std::shared_ptr<ConnectionBase> connection;
  const std::uint64_t sequence;
  std::atomic<bool> answered{false};
};

void Responder::operator()(Response response) const {
  if (!state_ || state_->answered.exchange(true, std::memory_order_acq_rel)) return;
  state_->connection->deliver(state_->sequence, std::move(response));
}

Handler inline_handler(SyncHandler handler) {
  return [handler = std::move(handler)](Request request, Responder respond) {
    try {
      respond(handler(request));
    } catch (const std::exception& e) {
      respond(error_response(500, std::string("the handler failed: ") + e.what()));
    } catch (...) {
      respond(error_response(500, "the handler failed"));
    }
  };
}

namespace {

// One accepted connection, living on one loop: every member below is touched only there, so none
// needs a lock. Requests are read one at a time; the next is read once the answer is written, so
// pipelined requests wait in the buffer and are answered in order.
template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Connection(std::shared_ptr<Core> core, tcp::socket socket, asio::io_context& loop)
      : core_(std::move(core)),
        loop_(loop),
        stream_(make_stream(std::move(socket), *core_)),
        timer_(lowest().get_executor()),
        buffer_(read_buffer_limit(core_->options)) {
    beast::error_code ec;
    auto& socket_ref = lowest().socket();
    socket_ref.set_option(tcp::no_delay(true), ec);
    const auto endpoint = socket_ref.remote_endpoint(ec);
    if (!ec) remote_address_ = endpoint.address().to_string();
  }

  ~Connection() override {
    if (!registered_) return;
    std::lock_guard lock(core_->mutex);
    core_->open.erase(registration_);
  }

  // Records the connection in the server's open list (under its mutex, held by the caller).
  void registered(std::list<std::weak_ptr<ConnectionBase>>::iterator it) {
    registration_ = it;
    registered_ = true;
  }

  void start() {
    lowest().expires_after(core_->options.header_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (self->closed_) return;
                                if (ec) {
                                  if (ec == beast::error::timeout) {
                                    self->core_->metrics.refuse(Refusal::kHeaderTimeout);
                                  }
                                  return self->close();
                                }
                                self->await_request(/*first=*/true);
                              });
    } else {
      await_request(/*first=*/true);
    }
  }

  void deliver(std::uint64_t sequence, Response response) override {
    auto ex = executor();
    if (ex.running_in_this_thread()) {
      on_response(sequence, std::move(response));
      return;
    }
    asio::post(ex, [self = this->shared_from_this(), sequence,
                    response = std::move(response)]() mutable {
      self->on_response(sequence, std::move(response));
    });
  }

  void close_from_outside(bool only_idle, std::function<void()> done) override {
    if (loop_.stopped()) {  // Nobody runs the loop any more: nothing else touches the connection.
      if (!only_idle || !counted_) close();
      done();
      return;
    }
    asio::dispatch(executor(),
                   [self = this->shared_from_this(), only_idle, done = std::move(done)] {
                     if (!only_idle || !self->counted_) self->close();
                     done();
                   });
  }

  asio::io_context::executor_type executor() override { return loop_.get_executor(); }

 private:
  static Stream make_stream(tcp::socket socket, Core& core) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), *core.ssl);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& lowest() noexcept { return beast::get_lowest_layer(stream_); }

  // Before a request: wait for its first byte (the idle timeout after an answer; the first
  // request's header timeout runs from the accept), count it in flight, then give its headers the
  // header timeout.
  void await_request(bool first = false) {
    if (core_->draining.load(std::memory_order_relaxed)) return close();
    if (buffer_.size() > 0) {  // Pipelined.
      begin_request();
      lowest().expires_after(core_->options.header_timeout);
      return read_header();
    }
    if (!first) lowest().expires_after(core_->options.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kReadSize),
        [self = this->shared_from_this(), first](beast::error_code ec, std::size_t n) {
          if (self->closed_) return;
          if (ec) {
            if (first && ec == beast::error::timeout) {
              self->core_->metrics.refuse(Refusal::kHeaderTimeout);
            }
            return self->close();  // Idle timeout, or the client went away.
          }
          self->buffer_.commit(n);
          self->begin_request();
          if (!first) self->lowest().expires_after(self->core_->options.header_timeout);
          self->read_header();
        });
  }

  // A request's first byte is in: stop(grace) waits for it from now on.
  void begin_request() {
    if (counted_) return;
    counted_ = true;
    core_->in_flight.fetch_add(1, std::memory_order_relaxed);
  }

  // The request's answer is written, or the connection closed.
  void end_request() {
    if (!counted_) return;
    counted_ = false;
    core_->in_flight.fetch_sub(1, std::memory_order_release);
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(core_->options.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(core_->options.max_body_bytes);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(beast::error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec, Refusal::kHeaderTimeout);
    const auto& message = parser_->get();
    if (parser_->is_done()) return on_request();
    lowest().expires_after(core_->options.body_timeout);
    // RFC 7231 section 5.1.1: a 100-continue from an HTTP/1.0 client is ignored (it cannot read
    // an interim answer).
    if (message.version() >= 11 && iequals(view(message[bhttp::field::expect]), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                          if (self->closed_) return;
                          if (ec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->on_read_error(ec, Refusal::kBodyTimeout);
                        self->on_request();
                      });
  }

  // A read failed: refuse with the matching status, or close quietly when the client left.
  void on_read_error(beast::error_code ec, Refusal timeout_reason) {
    const auto& options = core_->options;
    if (ec == bhttp::error::header_limit) {
      core_->metrics.refuse(Refusal::kHeaderTooLarge);
      return refuse(431, "the request header is over the limit of " +
                             std::to_string(options.max_header_bytes) + " bytes");
    }
    if (ec == bhttp::error::body_limit) {
      core_->metrics.refuse(Refusal::kBodyTooLarge);
      // A Content-Length over the limit is refused with the headers; a chunked body as it grows.
      const auto length = view(parser_->get()[bhttp::field::content_length]);
      return refuse(413, (length.empty() ? std::string("the chunked request body grows past the "
                                                       "limit")
                                         : "the request body has " + std::string(length) +
                                               " bytes") +
                             "; the limit is " + std::to_string(options.max_body_bytes) +
                             " bytes");
    }
    if (ec == bhttp::error::buffer_overflow) {
      // The read buffer is full without a whole header, chunk header or trailer in it.
      const auto limit = std::to_string(read_buffer_limit(options));
      if (timeout_reason == Refusal::kBodyTimeout) {
        core_->metrics.refuse(Refusal::kBodyTooLarge);
        return refuse(413, "a chunk header or the trailer of the request body is over the limit "
                           "of " + limit + " bytes");
      }
      core_->metrics.refuse(Refusal::kHeaderTooLarge);
      return refuse(431, "the request header is over the limit of " + limit + " bytes");
    }
    if (ec == beast::error::timeout) {
      core_->metrics.refuse(timeout_reason);
      return close();
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      core_->metrics.refuse(Refusal::kMalformed);
      return refuse(400, "malformed request: " + ec.message());
    }
    close();  // End of stream, reset, or another socket error: nobody to answer.
  }

  void on_request() {
    lowest().expires_never();  // The handler has its own deadline (request_timeout).
    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    http10_ = message.version() < 11;
    head_ = message.method() == bhttp::verb::head;

    Request request;
    request.method = view(message.method_string());
    request.target = view(message.target());
    std::size_t count = 0;
    for (auto it = message.begin(); it != message.end(); ++it) ++count;
    request.headers.reserve(count);
    for (const auto& field : message) {
      request.headers.push_back({std::string(view(field.name_string())),
                                 std::string(view(field.value()))});
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;
    parser_.reset();

    const std::uint64_t sequence = ++sequence_;
    awaiting_ = true;
    auto state = std::make_shared<Responder::State>(this->shared_from_this(), sequence);
    pending_ = state;
    {
      // A handler must not throw; when it does, its caller gets a 500 (unless it answered).
      std::optional<Response> failed;
      try {
        core_->handler(std::move(request), Responder(state));
      } catch (const std::exception& e) {
        failed = error_response(500, std::string("the handler failed: ") + e.what());
      } catch (...) {
        failed = error_response(500, "the handler failed");
      }
      if (failed && !state->answered.exchange(true, std::memory_order_acq_rel)) {
        deliver(sequence, std::move(*failed));
      }
      state.reset();  // A Responder the handler dropped answers 500 here.
    }
    // Inline handlers have answered by now; others get the request deadline.
    if (awaiting_ && sequence_ == sequence && core_->options.request_timeout.count() > 0) {
      timer_.expires_after(core_->options.request_timeout);
      timer_.async_wait([self = this->shared_from_this(), sequence](beast::error_code ec) {
        if (!ec) self->on_request_timeout(sequence);
      });
    }
  }

  void on_request_timeout(std::uint64_t sequence) {
    if (closed_ || !awaiting_ || sequence != sequence_) return;
    auto state = pending_.lock();
    if (!state || state->answered.exchange(true, std::memory_order_acq_rel)) return;
    core_->metrics.refuse(Refusal::kRequestTimeout);
    on_response(sequence, error_response(503, "the handler did not answer before the deadline of " +
                                                  std::to_string(
                                                      core_->options.request_timeout.count()) +
                                                  " ms"));
  }

  void on_response(std::uint64_t sequence, Response response) {
    if (closed_ || !awaiting_ || sequence != sequence_) return;  // Late or stale.
    awaiting_ = false;
    writing_ = true;
    pending_.reset();
    if (core_->options.request_timeout.count() > 0) timer_.cancel();
    if (core_->closing.load(std::memory_order_relaxed) ||
        core_->draining.load(std::memory_order_relaxed)) {
      keep_alive_ = false;
    }
    write(std::move(response));
  }

  // Answers a request that could not be read whole, then closes.
  void refuse(int status, std::string_view message) {
    keep_alive_ = false;
    http10_ = false;
    head_ = false;
    write(error_response(status, message));
  }

  void write(Response response) {
    out_head_.clear();
    out_head_ += "HTTP/1.1 ";
    append_number(out_head_, static_cast<std::size_t>(response.status));
    out_head_ += ' ';
    const auto status = bhttp::int_to_status(static_cast<unsigned>(response.status));
    if (status == bhttp::status::unknown) {
      out_head_ += "Unknown";
    } else {
      const auto reason = bhttp::obsolete_reason(status);
      out_head_.append(reason.data(), reason.size());
    }
    // RFC 9110 sections 8.6, 15.3.5 and 15.4.5: 1xx, 204 and 304 answers have no body and no
    // Content-Length (a handler's body there would be read as the start of the next answer).
    const bool bodiless = (response.status >= 100 && response.status < 200) ||
                          response.status == 204 || response.status == 304;
    if (bodiless) {
      response.body = std::string();
      out_head_ += "\r\n";
    } else {
      // A content type with CR, LF or NUL is not written (no response splitting).
      out_head_ += "\r\nContent-Type: ";
      out_head_ += valid_header({"Content-Type", response.content_type})
                       ? std::string_view(response.content_type)
                       : std::string_view("application/octet-stream");
      out_head_ += "\r\nContent-Length: ";
      append_number(out_head_, response.body.size());
      out_head_ += "\r\n";
    }
    for (const auto& header : response.headers) {
      if (!valid_header(header) || reserved_header(header.name)) continue;
      out_head_ += header.name;
      out_head_ += ": ";
      out_head_ += header.value;
      out_head_ += "\r\n";
    }
    if (!keep_alive_) {
      out_head_ += "Connection: close\r\n";
    } else if (http10_) {
      out_head_ += "Connection: keep-alive\r\n";
    }
    out_head_ += "\r\n";
    out_body_ = std::move(response.body);
    const std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(out_head_), head_ ? asio::const_buffer() : asio::buffer(out_body_)};
    lowest().expires_after(core_->options.body_timeout);
    asio::async_write(stream_, buffers,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->on_written(ec);
                      });
  }

  void on_written(beast::error_code ec) {
    writing_ = false;
    end_request();
    if (closed_) return;
    if (ec) return close();
    out_body_ = std::string();  // An idle kept-alive connection holds no answer's capacity.
    if (!keep_alive_) return linger();
    await_request();
  }

  // Closes after the last answer: stops sending, then reads and discards what the client still
  // sends until it closes or kLingerTime passes, so that the answer is not lost to a reset.
  void linger() {
    lowest().expires_after(kLingerTime);
    if constexpr (kTls) {
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        self->close();
      });
    } else {
      beast::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      discard();
    }
  }

  void discard() {
    buffer_.clear();
    lowest().async_read_some(
        buffer_.prepare(kReadSize),
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          if (self->closed_) return;
          if (ec) return self->close();
          self->discard();
        });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
    timer_.cancel();
    awaiting_ = false;
    writing_ = false;
    end_request();
    pending_.reset();
    core_->connection_closed();
  }

  std::shared_ptr<Core> core_;
  asio::io_context& loop_;
  Stream stream_;
  asio::steady_timer timer_;  // The request deadline.
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string remote_address_;
  std::string out_head_;
  std::string out_body_;
  std::weak_ptr<Responder::State> pending_;
  std::list<std::weak_ptr<ConnectionBase>>::iterator registration_;
  bool registered_ = false;
  std::uint64_t sequence_ = 0;
  bool awaiting_ = false;  // The handler has request sequence_ and has not answered.
  bool writing_ = false;   // Its answer is being written.
  bool counted_ = false;   // A request is in core_->in_flight: from its first byte to its answer.
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_ = false;
  bool closed_ = false;
};

// Makes the connection for an accepted socket, on the loop it belongs to.
template <class Stream>
void start_connection(const std::shared_ptr<Core>& core, tcp::socket socket,
                      asio::io_context& loop) {
  auto connection = std::make_shared<Connection<Stream>>(core, std::move(socket), loop);
  {
    std::lock_guard lock(core->mutex);
    if (core->draining.load()) {
      // stop() has taken its list of connections already: this one closes itself.
      connection->close_from_outside(/*only_idle=*/false, [] {});
      return;
    }
    connection->registered(core->open.insert(core->open.end(), connection));
  }
  connection->start();
}

void accept(const std::shared_ptr<Core>& core) {
  asio::io_context& loop = core->pool.next();
  core->acceptor->async_accept(loop, [core, &loop](beast::error_code ec, tcp::socket socket) {
    if (core->draining.load()) return;  // stop() closed the acceptor.
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Out of descriptors and the like: try again shortly rather than spin.
      auto retry = std::make_shared<asio::steady_timer>(core->accept_loop,
                                                        std::chrono::milliseconds(50));
      retry->async_wait([core, retry](beast::error_code wait_ec) {
        if (!wait_ec && !core->draining.load()) accept(core);
      });
      return;
    }
    if (core->connections.load(std::memory_order_relaxed) >= core->options.max_connections) {
      core->metrics.refuse(Refusal::kConnectionLimit);
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      core->connections.fetch_add(1, std::memory_order_relaxed);
      if (core->metrics.connections) core->metrics.connections->inc();
      asio::post(loop, [core, socket = std::move(socket), &loop]() mutable {
        if (core->ssl) {
          start_connection<beast::ssl_stream<beast::tcp_stream>>(core, std::move(socket), loop);
        } else {
          start_connection<beast::tcp_stream>(core, std::move(socket), loop);
        }
      });
    }
    accept(core);
  });
}

// Runs `fn` on `loop` and waits for it, at most `timeout`; runs it here when the loop is stopped
// (its owner stopped the pool first: no thread runs it any more).
void run_on(asio::io_context& loop, std::function<void()> fn, std::chrono::milliseconds timeout) {
  if (loop.stopped()) {
    fn();
    return;
  }
  struct Done {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
  };
  auto done = std::make_shared<Done>();
  asio::post(loop, [fn = std::move(fn), done] {
    fn();
    std::lock_guard lock(done->mutex);
    done->done = true;
    done->cv.notify_all();
  });
  std::unique_lock lock(done->mutex);
  done->cv.wait_for(lock, timeout, [&] { return done->done; });
}

Result<std::unique_ptr<asio::ssl::context>> make_tls_context(const TlsOptions& tls) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain(asio::buffer(tls.cert_pem.data(), tls.cert_pem.size()), ec);
  if (ec) return Error::invalid_input("the TLS certificate does not load: " + ec.message());
  context->use_private_key(asio::buffer(tls.key_pem.data(), tls.key_pem.size()),
                           asio::ssl::context::pem, ec);
  if (ec) return Error::invalid_input("the TLS private key does not load: " + ec.message());
  return context;
}

constexpr std::chrono::milliseconds kLoopWait{5000};

}  // namespace

struct Server::Impl {
  std::shared_ptr<Core> core;
  std::once_flag stopped;
};

Server::Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

std::uint16_t Server::port() const noexcept { return impl_->core->port; }

std::size_t Server::connections() const noexcept {
  return impl_->core->connections.load(std::memory_order_relaxed);
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, IoPool& pool,
                                              Handler handler) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) {
    return Error::invalid_input("listen address '" + options.host +
                                "' is not an IPv4 or IPv6 address");
  }
  std::unique_ptr<asio::ssl::context> ssl;
  if (options.tls) {
    auto context = make_tls_context(*options.tls);
    if (!context.ok()) return std::move(context).error();
    ssl = std::move(context).value();
  }
  asio::io_context& accept_loop = pool.next();
  auto core = std::make_shared<Core>(std::move(options), std::move(handler), pool, accept_loop);
  core->ssl = std::move(ssl);
  const tcp::endpoint endpoint(address, core->options.port);
  const std::string where = (address.is_v6() ? "[" + core->options.host + "]" : core->options.host) +
                            ":" + std::to_string(core->options.port);
  auto& acceptor = core->acceptor.emplace(accept_loop);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && address.is_v6()) {
    // "::" takes IPv4 too where the OS allows; a specific IPv6 address only itself.
    beast::error_code ignored;
    acceptor.set_option(asio::ip::v6_only(!address.is_unspecified()), ignored);
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error::retryable("cannot listen on " + where + ": " + ec.message());
  core->port = acceptor.local_endpoint(ec).port();
  core->metrics = make_metrics(core->options.registry, core->options.name);
  asio::post(accept_loop, [core] { accept(core); });
  auto impl = std::make_shared<Impl>();
  impl->core = std::move(core);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::begin_drain() noexcept { impl_->core->closing.store(true); }

namespace {

// Closes `core`'s open connections (only the idle ones with `only_idle`) on their loops and
// waits for that, at most kLoopWait.
void close_connections(const std::shared_ptr<Core>& core, bool only_idle) {
  std::vector<std::shared_ptr<ConnectionBase>> open;
  {
    std::lock_guard lock(core->mutex);
    for (const auto& weak : core->open) {
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
  }
  struct Countdown {
    std::mutex mutex;
    std::condition_variable cv;
    std::size_t left = 0;
  };
  auto countdown = std::make_shared<Countdown>();
  countdown->left = open.size();
  for (auto& connection : open) {
    auto done = [countdown] {
      std::lock_guard lock(countdown->mutex);
      if (--countdown->left == 0) countdown->cv.notify_all();
    };
    connection->close_from_outside(only_idle, std::move(done));
  }
  open.clear();
  std::unique_lock lock(countdown->mutex);
  countdown->cv.wait_for(lock, kLoopWait, [&] { return countdown->left == 0; });
}

}  // namespace

void Server::stop(std::chrono::milliseconds grace) {
  std::call_once(impl_->stopped, [&] {
    const auto& core = impl_->core;
    core->draining.store(true);
    // 1. No new connections.
    run_on(
        core->accept_loop,
        [core] {
          beast::error_code ignored;
          if (core->acceptor) core->acceptor->close(ignored);
          core->acceptor.reset();
        },
        kLoopWait);
    // 2. Idle connections close now; a busy one closes after its answer (draining), which
    // carries Connection: close.
    close_connections(core, /*only_idle=*/true);
    // 3. The requests being read, handled or answered finish, up to `grace`.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (core->in_flight.load(std::memory_order_acquire) > 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // 4. Every connection left closes, on its loop.
    close_connections(core, /*only_idle=*/false);
  });
}

}  // namespace kiln::http
