#include "http/client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <map>
#include <optional>
#include <unordered_set>

namespace kiln::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Beast 1.74 speaks boost::string_view.
std::string_view sv(beast::string_view s) noexcept { return {s.data(), s.size()}; }
beast::string_view bsv(std::string_view s) noexcept { return {s.data(), s.size()}; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == (y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
  });
}

// Hop-by-hop headers (RFC 9110 section 7.6.1, RFC 2616 section 13.5.1), Expect (an interim 100
// is between the caller and this hop: the client sends its body at once and skips interim answers)
// and the framing headers the client writes itself.
bool hop_by_hop(std::string_view name) noexcept {
  for (std::string_view hop : {"connection", "keep-alive", "transfer-encoding", "te", "upgrade",
                               "proxy-connection", "proxy-authenticate", "proxy-authorization",
                               "trailer", "expect", "content-length", "host"}) {
    if (iequals(name, hop)) return true;
  }
  return false;
}

// The header names listed in Connection headers' values ("close, X-Foo"): hop-by-hop too.
template <class Range, class NameOf, class ValueOf>
std::vector<std::string> connection_options(const Range& headers, NameOf name_of,
                                            ValueOf value_of) {
  std::vector<std::string> out;
  for (const auto& header : headers) {
    if (!iequals(name_of(header), "connection")) continue;
    std::string_view value = value_of(header);
    while (!value.empty()) {
      const auto comma = value.find(',');
      std::string_view token = value.substr(0, comma);
      value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
        token.remove_prefix(1);
      }
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      if (!token.empty()) out.emplace_back(token);
    }
  }
  return out;
}

// Whether a header goes on to the next hop: not hop-by-hop, not named by a Connection header.
bool passes_through(std::string_view name, const std::vector<std::string>& connection) noexcept {
  if (hop_by_hop(name)) return false;
  return std::none_of(connection.begin(), connection.end(),
                      [&](const std::string& option) { return iequals(name, option); });
}

// Interim (1xx) answers skipped before a call's final answer; more fail the call.
constexpr int kMaxInterimResponses = 16;

struct Target {
  std::string host;
  std::string port;
  unsigned short port_number = 80;
  std::optional<asio::ip::address> address;  // Set when the host is an IP literal.
};

// "http://host[:port][/...]", host an IPv6 literal in brackets or a name or IPv4 address; the
// port defaults to 80. nullopt for anything else.
std::optional<Target> parse_base(std::string_view base) {
  constexpr std::string_view kScheme = "http://";
  if (!base.starts_with(kScheme)) return std::nullopt;
  std::string_view rest = base.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  Target target;
  std::string_view port = "80";
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    target.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (rest.starts_with(':')) {
      port = rest.substr(1);
    } else if (!rest.empty()) {
      return std::nullopt;
    }
  } else {
    const auto colon = rest.rfind(':');
    target.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (target.host.empty() || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  target.port = std::string(port);
  const unsigned long number = std::stoul(target.port);  // Digits only, at most 5.
  if (number == 0 || number > 65535) return std::nullopt;
  target.port_number = static_cast<unsigned short>(number);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(target.host, ec);
  if (!ec) target.address = address;
  return target;
}

Error failure(std::string_view reason, std::string_view base, std::string_view cause) {
  std::string message = "upstream ";
  message.append(base).append(": ").append(cause);
  return Error::api(ErrorCategory::kRetryable, 0, std::string(reason), std::move(message));
}

// The largest response header; and the most a connection's read buffer holds: Beast 1.74 keeps a
// chunk header (with its extensions) and the trailer whole in the buffer and counts neither
// against the body or header limit, so this bound is what stops an endless one.
constexpr std::size_t kMaxHeaderBytes = 64u << 10;
constexpr std::size_t kReadBufferBytes = kMaxHeaderBytes + (16u << 10);

// A kept-alive connection to one upstream, used by one call at a time on its loop.
struct Connection {
  explicit Connection(asio::io_context& io) : stream(io), buffer(kReadBufferBytes) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

// One loop of the pool and its idle connections, by base URL. Only that loop's thread touches
// `idle`, so the pool needs no lock.
struct Loop {
  asio::io_context* io = nullptr;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>, std::less<>> idle;
};

}  // namespace

std::string_view ClientResponse::header(std::string_view name) const noexcept {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

namespace {

// The client's state, shared with its calls in flight (Client::Impl is this).
struct Core {
  Core(IoPool& pool, ClientOptions opts) : options(opts) {
    // The pool hands its loops out in turn; a few rounds find each of them even when other
    // threads take some turns meanwhile. A loop not found is only never used by this client.
    std::unordered_set<asio::io_context*> seen;
    for (std::size_t i = 0; i < 4 * pool.size() && seen.size() < pool.size(); ++i) {
      asio::io_context& io = pool.next();
      if (seen.insert(&io).second) {
        loops.push_back(std::make_unique<Loop>());
        loops.back()->io = &io;
      }
    }
  }

  // The loop running on this thread, or null when the caller is not on one of ours.
  Loop* current() const noexcept {
    for (const auto& loop : loops) {
      if (loop->io->get_executor().running_in_this_thread()) return loop.get();
    }
    return nullptr;
  }
  Loop& next_loop() noexcept {
    return *loops[next.fetch_add(1, std::memory_order_relaxed) % loops.size()];
  }

  std::unique_ptr<Connection> take_idle(Loop& loop, std::string_view base) {
    const auto it = loop.idle.find(base);
    if (it == loop.idle.end() || it->second.empty()) return nullptr;
    auto connection = std::move(it->second.back());
    it->second.pop_back();
    return connection;
  }
  void give_back(Loop& loop, std::string_view base, std::unique_ptr<Connection> connection) {
    auto it = loop.idle.find(base);
    if (it == loop.idle.end()) it = loop.idle.emplace(std::string(base), 0).first;
    if (it->second.size() < options.max_idle_per_upstream) {
      connection->stream.expires_never();
      it->second.push_back(std::move(connection));
    }
  }

  const ClientOptions options;
  std::vector<std::unique_ptr<Loop>> loops;
  std::atomic<std::size_t> next{0};
};

// One call: its state lives in this object, held by the completion handlers of the operation in
// progress. Everything runs on `loop`'s thread.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<Core> impl, Loop& loop, std::string base, Target target,
       bhttp::request<bhttp::string_body> request, ClientCallback done,
       SteadyClock::time_point deadline)
      : impl_(std::move(impl)),
        loop_(loop),
        base_(std::move(base)),
        target_(std::move(target)),
        request_(std::move(request)),
        done_(std::move(done)),
        deadline_(deadline) {}

  void start() {
    connection_ = impl_->take_idle(loop_, base_);
    reused_ = connection_ != nullptr;
    if (reused_) {
      write();
    } else {
      open();
    }
  }

 private:
  void open() {
    connection_ = std::make_unique<Connection>(*loop_.io);
    if (target_.address) {
      connect(tcp::endpoint(*target_.address, target_.port_number));
      return;
    }
    // Names are resolved by Asio's resolver thread, in a getaddrinfo() that cancel() cannot
    // interrupt: the deadline answers the call at once and the resolution's late completion (which
    // holds the call) is ignored.
    resolver_.emplace(*loop_.io);
    timer_.emplace(*loop_.io, deadline_);
    timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->finished_ || !self->resolving_) return;
      self->resolver_->cancel();
      self->finish(failure("Timeout", self->base_, "deadline passed while resolving"));
    });
    resolving_ = true;
    resolver_->async_resolve(
        target_.host, target_.port,
        [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
          self->resolving_ = false;
          if (self->finished_) return;  // The deadline answered already.
          self->timer_->cancel();
          if (ec) return self->finish(failure("Unavailable", self->base_, ec.message()));
          self->connection_->stream.expires_at(self->deadline_);
          self->connection_->stream.async_connect(
              r, [self](boost::system::error_code ec, const tcp::endpoint&) {
                self->on_connected(ec);
              });
        });
  }

  void connect(const tcp::endpoint& endpoint) {
    connection_->stream.expires_at(deadline_);
    connection_->stream.async_connect(
        endpoint, [self = shared_from_this()](boost::system::error_code ec) {
          self->on_connected(ec);
        });
  }

  void on_connected(boost::system::error_code ec) {
    if (ec == beast::error::timeout) {
      return finish(failure("Timeout", base_, "deadline passed while connecting"));
    }
    if (ec) return finish(failure("Unavailable", base_, ec.message()));
    boost::system::error_code ignored;
    connection_->stream.socket().set_option(tcp::no_delay(true), ignored);
    write();
  }

  void write() {
    new_parser();
    interim_ = 0;
    connection_->stream.expires_at(deadline_);
    bhttp::async_write(connection_->stream, request_,
                       [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                         if (ec) return self->failed(ec);
                         self->read();
                       });
  }

  // The header first: Beast 1.74's eager parse (async_read) goes on past a Content-Length over
  // the body limit when the body's first bytes came with the header, and would read it all.
  void read() {
    bhttp::async_read_header(connection_->stream, connection_->buffer, *parser_,
                             [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(boost::system::error_code ec) {
    if (ec) return failed(ec);
    const unsigned status = parser_->get().result_int();
    if (status >= 100 && status < 200 && status != 101) {
      // An interim answer (100 Continue, 103 Early Hints): Beast's parser takes it for a whole
      // bodiless message. The final answer follows on the same connection.
      if (++interim_ > kMaxInterimResponses) {
        return finish(failure("Unavailable", base_, "more than " +
                                                        std::to_string(kMaxInterimResponses) +
                                                        " interim (1xx) responses"));
      }
      new_parser();
      return read();
    }
    if (parser_->is_done()) return on_read({});
    bhttp::async_read(connection_->stream, connection_->buffer, *parser_,
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->on_read(ec);
                      });
  }

  void new_parser() {
    parser_.emplace();
    parser_->body_limit(impl_->options.max_response_bytes);
    parser_->header_limit(kMaxHeaderBytes);
    if (request_.method() == bhttp::verb::head) parser_->skip(true);
  }

  void failed(boost::system::error_code ec) {
    // A pooled connection the upstream had closed before this request: it failed at once and no
    // byte of a response came back, so the request goes again on a new connection. Never after a
    // timeout or a partial response, where the upstream may have acted on it.
    const bool closed = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
    if (reused_ && closed && !parser_->got_some() && interim_ == 0 && !retried_) {
      retried_ = true;
      reused_ = false;
      connection_.reset();
      return open();
    }
    if (ec == beast::error::timeout) {
      return finish(failure("Timeout", base_, "no answer before the deadline"));
    }
    if (ec == bhttp::error::body_limit) {
      return finish(failure("ResponseTooLarge", base_,
                            "response body over " +
                                std::to_string(impl_->options.max_response_bytes) + " bytes"));
    }
    if (ec == bhttp::error::buffer_overflow) {
      return finish(failure("ResponseTooLarge", base_,
                            "a chunk header or the trailer of the response is over " +
                                std::to_string(kReadBufferBytes) + " bytes"));
    }
    finish(failure("Unavailable", base_, ec.message()));
  }

  void on_read(boost::system::error_code ec) {
    if (ec) return failed(ec);
    auto message = parser_->release();
    const auto connection = connection_options(
        message, [](const auto& field) { return sv(field.name_string()); },
        [](const auto& field) { return sv(field.value()); });
    ClientResponse response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      if (field.name() == bhttp::field::content_type) {
        response.content_type = std::string(sv(field.value()));
      } else if (passes_through(sv(field.name_string()), connection)) {
        response.headers.push_back({std::string(sv(field.name_string())), std::string(sv(field.value()))});
      }
    }
    response.body = std::move(message.body());
    if (message.keep_alive() && connection_->buffer.size() == 0) {
      impl_->give_back(loop_, base_, std::move(connection_));
    }
    connection_.reset();
    finish(std::move(response));
  }

  // Answers the call; once only. The resolver and its timer stay until the call goes (a resolution
  // may still be running on Asio's resolver thread).
  void finish(Result<ClientResponse> result) {
    if (finished_) return;
    finished_ = true;
    connection_.reset();
    ClientCallback done = std::move(done_);
    try {
      done(std::move(result));
    } catch (...) {
      // A callback must not throw; on a loop thread an exception would end the loop.
    }
  }

  std::shared_ptr<Core> impl_;
  Loop& loop_;
  const std::string base_;
  const Target target_;
  bhttp::request<bhttp::string_body> request_;
  ClientCallback done_;
  const SteadyClock::time_point deadline_;
  std::unique_ptr<Connection> connection_;
  bool reused_ = false;
  bool retried_ = false;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  std::optional<tcp::resolver> resolver_;
  std::optional<asio::steady_timer> timer_;
  bool resolving_ = false;  // A resolution is running.
  bool finished_ = false;
  int interim_ = 0;  // Interim answers skipped for this request.
};

}  // namespace

struct Client::Impl : Core {
  using Core::Core;
};

Client::Client(IoPool& pool, ClientOptions options)
    : impl_(std::make_shared<Impl>(pool, options)) {}

Client::~Client() = default;

void Client::call(std::string_view base_url, ClientRequest request, ClientCallback done,
                  std::chrono::milliseconds timeout) {
  Loop* here = impl_->current();
  Loop& loop = here ? *here : impl_->next_loop();
  const auto deadline =
      SteadyClock::now() + (timeout.count() > 0 ? timeout : impl_->options.timeout);
  auto target = parse_base(base_url);
  if (!target) {
    asio::post(*loop.io, [done = std::move(done), base = std::string(base_url)] {
      try {
        done(failure("Unavailable", base, "not an http://host[:port] URL"));
      } catch (...) {
      }
    });
    return;
  }
  bhttp::request<bhttp::string_body> out;
  const auto verb = bhttp::string_to_verb(bsv(request.method));
  if (verb == bhttp::verb::unknown) {
    out.method_string(bsv(request.method));
  } else {
    out.method(verb);
  }
  out.target(request.target.empty() ? beast::string_view("/") : bsv(request.target));
  out.version(11);
  out.set(bhttp::field::host, target->address && target->address->is_v6()
                                  ? "[" + target->host + "]:" + target->port
                                  : target->host + ":" + target->port);
  const auto connection = connection_options(
      request.headers, [](const Header& h) { return std::string_view(h.name); },
      [](const Header& h) { return std::string_view(h.value); });
  for (auto& header : request.headers) {
    if (passes_through(header.name, connection) && !iequals(header.name, "content-type")) {
      out.insert(bsv(header.name), bsv(header.value));
    }
  }
  if (!request.content_type.empty()) {
    out.set(bhttp::field::content_type, bsv(request.content_type));
  }
  out.body() = std::move(request.body);
  out.keep_alive(true);
  out.prepare_payload();
  auto call = std::make_shared<Call>(impl_, loop, std::string(base_url), std::move(*target),
                                     std::move(out), std::move(done), deadline);
  if (here) {
    call->start();
  } else {
    asio::post(*loop.io, [call = std::move(call)] { call->start(); });
  }
}

}  // namespace kiln::http
