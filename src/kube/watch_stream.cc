#include "kube/watch_stream.h"

#include <cpprest/containerstream.h>

#include "kube/api_error.h"
#include "kube/http.h"

namespace kiln::kube {

struct WatchStream::Impl {
  Config config;
  std::unique_ptr<web::http::client::http_client> http;
  pplx::cancellation_token_source cancel;
  web::http::http_response response;
  concurrency::streams::istream body;
};

WatchStream::WatchStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WatchStream::~WatchStream() {
  if (!impl_) return;
  impl_->cancel.cancel();
  try {
    // Let cpprestsdk finish the cancelled read before the client goes away.
    impl_->response.content_ready().wait();
  } catch (...) {
  }
}

Result<std::unique_ptr<WatchStream>> WatchStream::open(const Config& config,
                                                       const std::string& path_and_query,
                                                       std::chrono::seconds idle_timeout) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  try {
    impl->http = detail::make_http_client(config, idle_timeout);
    KILN_TRY(auto request, detail::make_request(config, "GET", path_and_query, "", ""));
    impl->response = impl->http->request(request, impl->cancel.get_token()).get();
  } catch (const std::exception& e) {
    return detail::transport_failure(config, e).error.with_context("watch");
  }
  if (impl->response.status_code() != 200) {
    std::string body;
    try {
      body = impl->response.extract_utf8string(true).get();
    } catch (...) {
    }
    return ApiStatus::from_response(impl->response.status_code(), body)
        .to_error()
        .with_context("watch " + path_and_query);
  }
  impl->body = impl->response.body();
  return std::unique_ptr<WatchStream>(new WatchStream(std::move(impl)));
}

Result<std::optional<nlohmann::json>> WatchStream::next() {
  try {
    for (;;) {
      concurrency::streams::container_buffer<std::string> line;
      size_t n = impl_->body.read_line(line).get();
      if (n == 0 && line.collection().empty()) {
        if (impl_->body.is_eof()) {
          // A clean end or a cut connection look alike to the stream; the response task tells.
          impl_->response.content_ready().get();
          return std::optional<nlohmann::json>();
        }
        continue;
      }
      auto event = nlohmann::json::parse(line.collection(), nullptr, false);
      if (event.is_discarded() || !event.is_object() || !event.contains("type")) {
        return Error::retryable("watch: undecodable event line");
      }
      return std::optional<nlohmann::json>(std::move(event));
    }
  } catch (const std::exception& e) {
    return Error::retryable(std::string("watch stream broken: ") + e.what());
  }
}

void WatchStream::cancel() { impl_->cancel.cancel(); }

}  // namespace kiln::kube
