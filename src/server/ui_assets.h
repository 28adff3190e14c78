// The web dashboard's static files (src/server/ui/), built into the binary by
// cmake/EmbedAssets.cmake: no file is read at run time and nothing is downloaded.
#ifndef CAIRN_SERVER_UI_ASSETS_H_
#define CAIRN_SERVER_UI_ASSETS_H_

#include <span>
#include <string_view>

namespace cairn::server {

struct UiAsset {
  std::string_view name;          // path under src/server/ui/, e.g. "dashboard.js"
  std::string_view content_type;  // from the extension
  std::string_view etag;          // quoted, from the content's SHA-256
  std::string_view body;
};

// Every asset, in the order CMakeLists.txt lists them. Static storage.
std::span<const UiAsset> UiAssets();

}  // namespace cairn::server

#endif  // CAIRN_SERVER_UI_ASSETS_H_
