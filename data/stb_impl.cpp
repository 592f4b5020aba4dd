// The one translation unit that compiles the stb_image and stb_image_write
// implementations (Debian's libstb-dev headers). Everyone else includes the
// headers for their declarations only.
//
// Decoding is limited to JPEG, PNG and BMP, the formats of the data sets
// (BMP for the class-folder exports of some, data/dataset.h): fewer
// decoders, less code exposed to corrupt files. data/image.cpp checks what
// each decoder would otherwise read wrongly before calling it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"

#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#pragma GCC diagnostic pop
