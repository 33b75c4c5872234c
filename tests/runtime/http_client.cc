#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace kiln::runtime::testing {

HttpConnection::HttpConnection(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

ClientResponse HttpConnection::request(const std::string& method, const std::string& path,
                                       const std::string& body) {
  ClientResponse out;
  if (fd_ < 0) return out;
  std::string text = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST") {
    text +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  text += "\r\n" + body;
  for (std::size_t sent = 0; sent < text.size();) {
    const auto n = ::send(fd_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return out;
    sent += static_cast<std::size_t>(n);
  }
  auto fill = [this] {
    char chunk[65536];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return out;
  }
  const std::string head = buffer_.substr(0, header_end);
  out.status = std::stoi(head.substr(head.find(' ') + 1, 3));
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos < head.size()) {
    const auto next = head.find("\r\n", pos + 2);
    const std::string line =
        head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      out.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    pos = next;
  }
  const std::size_t length = std::stoul(out.headers["content-length"]);
  while (buffer_.size() < header_end + 4 + length) {
    if (!fill()) return out;
  }
  out.body = buffer_.substr(header_end + 4, length);
  buffer_.erase(0, header_end + 4 + length);
  return out;
}

ClientResponse http(std::uint16_t port, const std::string& method, const std::string& path,
                    const std::string& body) {
  HttpConnection connection(port);
  return connection.request(method, path, body);
}

}  // namespace kiln::runtime::testing
