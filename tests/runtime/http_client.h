#pragma once

// A minimal blocking HTTP/1.1 client over one TCP connection to 127.0.0.1, for the server tests:
// real sockets, real bytes, and the connection reuse (keep-alive) is visible to the test.

#include <cstdint>
#include <map>
#include <string>

namespace kiln::runtime::testing {

struct ClientResponse {
  int status = 0;                              // 0 when the connection failed.
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request on this connection and reads the response (Content-Length framed).
  ClientResponse request(const std::string& method, const std::string& path,
                         const std::string& body = "");
  bool connected() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  std::string buffer_;
};

// One request on a fresh connection.
ClientResponse http(std::uint16_t port, const std::string& method, const std::string& path,
                    const std::string& body = "");

}  // namespace kiln::runtime::testing
