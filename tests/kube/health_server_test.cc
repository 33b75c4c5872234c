// The manager's probes endpoint over real sockets: GET answered by the handler, other methods
// refused, and a stuck client does not hold up the others.

#include "kube/health_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace kiln::kube {
namespace {

// A TCP connection to 127.0.0.1:port.
class Socket {
 public:
  explicit Socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool send(const std::string& bytes) {
    return fd_ >= 0 && ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                           static_cast<ssize_t>(bytes.size());
  }
  // Reads until the whole Content-Length framed answer is in (or 5 s pass); "" on failure.
  std::string read_answer() {
    std::string data;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto at = data.find("Content-Length: ");
        if (at != std::string::npos &&
            data.size() >= end + 4 + std::stoul(data.substr(at + 16))) {
          return data;
        }
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      data.append(chunk, static_cast<std::size_t>(n));
    }
    return "";
  }

 private:
  int fd_ = -1;
};

std::string get(int port, const std::string& method, const std::string& target) {
  Socket socket(port);
  if (!socket.send(method + " " + target + " HTTP/1.1\r\nHost: probe\r\n\r\n")) return "";
  return socket.read_answer();
}

class HealthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = server_.start("127.0.0.1", 0, [](const std::string& path) -> HttpReply {
      if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
      if (path == "/throw") throw std::runtime_error("broken probe");
      return {404, "text/plain; charset=utf-8", "no " + path + "\n"};
    });
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    ASSERT_GT(server_.port(), 0);
  }
  HealthServer server_;
};

TEST_F(HealthServerTest, GetIsAnsweredByTheHandlerWithoutTheQuery) {
  const auto answer = get(server_.port(), "GET", "/healthz?verbose=1");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Content-Type: text/plain; charset=utf-8"), std::string::npos);
  EXPECT_EQ(answer.substr(answer.size() - 3), "ok\n");
  EXPECT_NE(get(server_.port(), "GET", "/nope").find("404 Not Found"), std::string::npos);
}

TEST_F(HealthServerTest, OtherMethodsAre405AndAThrowingHandlerIs500) {
  EXPECT_NE(get(server_.port(), "POST", "/healthz").find("405 Method Not Allowed"),
            std::string::npos);
  const auto answer = get(server_.port(), "GET", "/throw");
  EXPECT_NE(answer.find("500 Internal Server Error"), std::string::npos) << answer;
  EXPECT_NE(answer.find("broken probe"), std::string::npos);
}

TEST_F(HealthServerTest, AStuckClientDoesNotHoldUpTheProbes) {
  Socket stuck(server_.port());
  ASSERT_TRUE(stuck.send("GET /healthz HTTP/1.1\r\nHo"));  // And then nothing.
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto answer = get(server_.port(), "GET", "/healthz");
    EXPECT_NE(answer.find("200 OK"), std::string::npos) << "probe " << i;
    // The old server read the stuck client for 1 s before anyone else.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  }
}

TEST(HealthServer, ABadAddressIsInvalidInput) {
  HealthServer server;
  auto started = server.start("not-an-address", 0, [](const std::string&) { return HttpReply{}; });
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().category(), ErrorCategory::kInvalidInput);
  server.stop();  // Idempotent, also after a failed start.
}

}  // namespace
}  // namespace kiln::kube
