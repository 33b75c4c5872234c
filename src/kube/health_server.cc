#include "kube/health_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace kiln::kube {
namespace {

const char* status_text(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Service Unavailable";
  }
}

}  // namespace

HealthServer::~HealthServer() { stop(); }

Result<void> HealthServer::start(const std::string& address, int port, Handler handler) {
  handler_ = std::move(handler);
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Error::invalid_input("health server: bad bind address '" + address + "'");
  }
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 16) != 0) {
    std::string why = std::strerror(errno);
    close(listen_fd_);
    listen_fd_ = -1;
    return Error::invalid_input("health server: cannot listen on " + address + ":" +
                                std::to_string(port) + ": " + why);
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
  return Ok();
}

void HealthServer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void HealthServer::serve() {
  pollfd pfd{listen_fd_, POLLIN, 0};
  while (!stopping_) {
    if (poll(&pfd, 1, 100) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    answer(fd);
    close(fd);
  }
}

void HealthServer::answer(int fd) {
  // Read the request head (bounded; 1 s to arrive).
  std::string request;
  char buf[2048];
  pollfd pfd{fd, POLLIN, 0};
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
    if (poll(&pfd, 1, 1000) <= 0) return;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  HttpReply reply;
  auto line_end = request.find("\r\n");
  auto first = request.substr(0, line_end);
  auto sp1 = first.find(' ');
  auto sp2 = first.find(' ', sp1 + 1);
  if (first.compare(0, sp1, "GET") != 0 || sp2 == std::string::npos) {
    reply = {405, "text/plain; charset=utf-8", "only GET\n"};
  } else {
    std::string path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    try {
      reply = handler_(path);
    } catch (const std::exception& e) {
      reply = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
    }
  }
  std::string out = "HTTP/1.1 " + std::to_string(reply.code) + " " + status_text(reply.code) +
                    "\r\nContent-Type: " + reply.content_type +
                    "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                    "\r\nConnection: close\r\n\r\n" + reply.body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = write(fd, out.data() + sent, out.size() - sent);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace kiln::kube
