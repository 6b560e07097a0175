// Tile PNGs through libpng's simplified API (png_image): an 8-bit colour-mapped image with the
// SPEC palette, and decoding of any PNG to RGBA for tests.
#include <png.h>

#include <cstring>

#include "tiles/tiles.h"

namespace nbi::tiles {

Result<std::string> EncodePalettePng(const std::vector<uint8_t>& px, const uint8_t* colormap,
                                     int entries) {
  if (px.size() != static_cast<size_t>(kTileSize) * kTileSize) {
    return Status::Internal("EncodePalettePng: not a 256x256 tile");
  }
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = kTileSize;
  image.height = kTileSize;
  image.format = PNG_FORMAT_RGBA_COLORMAP;
  image.colormap_entries = static_cast<png_uint_32>(entries);
  png_alloc_size_t size = 0;
  if (!png_image_write_get_memory_size(image, size, 0, px.data(), 0, colormap)) {
    std::string why = image.message;
    png_image_free(&image);
    return Status::Internal("libpng: " + why);
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, px.data(), 0, colormap)) {
    std::string why = image.message;
    png_image_free(&image);
    return Status::Internal("libpng: " + why);
  }
  out.resize(size);
  return out;
}

Result<std::string> EncodeTilePng(const std::vector<uint8_t>& bands) {
  // Colour map RGBA: entry 0 transparent, entries 1..8 the bands, then the area's outline and
  // the faint cells below 30 (kBandOutline, kBandLow).
  uint8_t colormap[kTileColours * 4] = {0, 0, 0, 0};
  for (int b = 0; b < 8; ++b) {
    std::memcpy(colormap + (b + 1) * 4, kPalette[b].data(), 3);
    colormap[(b + 1) * 4 + 3] = 255;
  }
  std::memcpy(colormap + kBandOutline * 4, kOutlineRgba.data(), 4);
  std::memcpy(colormap + kBandLow * 4, kLowRgba.data(), 4);
  return EncodePalettePng(bands, colormap, kTileColours);
}

Result<Rgba> DecodePng(const std::string& png) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    return Status::Invalid(std::string("not a PNG: ") + image.message);
  }
  image.format = PNG_FORMAT_RGBA;
  Rgba out;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.px.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.px.data(), 0, nullptr)) {
    std::string why = image.message;
    png_image_free(&image);
    return Status::Invalid("PNG decode: " + why);
  }
  return out;
}

}  // namespace nbi::tiles
