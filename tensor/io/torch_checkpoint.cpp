// PyTorch checkpoints read without PyTorch.
//
// torch.save (since 1.6) writes a zip archive:
//   FOLDER/data.pkl        the saved object, pickled; every tensor is a call
//                          _rebuild_tensor_v2(storage, offset, size, stride, ...)
//                          whose storage is a persistent id
//                          ('storage', torch.FloatStorage, key, location, numel)
//   FOLDER/data/<key>      the raw little-endian bytes of each storage
// FOLDER is any name (the file's stem in torch 1.x, "archive" in 2.x).
//
// The unpickler below builds plain values (dicts, lists, tuples, numbers,
// strings) and tensor descriptions; it knows only the opcodes and globals a
// checkpoint needs and refuses everything else, so nothing in the file can
// run. Storage bytes are read afterwards, only for the tensors returned.
#include "tensor/io/torch_checkpoint.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace armnet {

namespace {

// ---- the zip archive -----------------------------------------------------------

// A hint for files that are not zip archives but PyTorch's legacy format
// (a bare pickle stream, which starts with the PROTO opcode).
std::string legacy_format_hint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  char first_byte = 0;
  if (file.get(first_byte) && static_cast<unsigned char>(first_byte) == 0x80)
    return " (it looks like PyTorch's legacy format from before 1.6, which armnet does not read: "
           "load and torch.save it again with a recent PyTorch)";
  return "";
}

class ZipArchive {
 public:
  explicit ZipArchive(const std::string& path) : path_(path) {
    int error_code = 0;
    archive_ = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &error_code);
    if (archive_ == nullptr) {
      zip_error_t error;
      zip_error_init_with_code(&error, error_code);
      const std::string reason = zip_error_strerror(&error);
      zip_error_fini(&error);
      throw Error(str_cat(path, ": cannot open it as a zip archive: ", reason, legacy_format_hint(path)));
    }
    std::error_code error;
    file_bytes_ = std::filesystem::file_size(path, error);
    if (error) {
      zip_discard(archive_);
      throw Error(str_cat(path, ": cannot read: ", error.message()));
    }
    inflate_budget_ = limits::kInflateRatio * file_bytes_;
    const zip_int64_t entries = zip_get_num_entries(archive_, 0);
    if (entries > limits::kArchiveEntries) {
      zip_discard(archive_);
      throw Error(str_cat(path, ": the archive has ", entries, " members, more than the limit of ",
                          limits::kArchiveEntries));
    }
  }
  ~ZipArchive() { zip_discard(archive_); }  // read-only: nothing to write back
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  // "FOLDER/" of the archive's FOLDER/data.pkl.
  std::string folder() const {
    const zip_int64_t count = zip_get_num_entries(archive_, 0);
    for (zip_int64_t i = 0; i < count; ++i) {
      const char* name = zip_get_name(archive_, static_cast<zip_uint64_t>(i), 0);
      if (name == nullptr) continue;
      const std::string entry = name;
      const std::size_t slash = entry.find('/');
      if (slash != std::string::npos && slash > 0 && entry.compare(slash, std::string::npos, "/data.pkl") == 0)
        return entry.substr(0, slash + 1);
    }
    throw Error(str_cat(path_, ": the archive has no FOLDER/data.pkl: not a checkpoint written by torch.save"));
  }

  bool contains(const std::string& name) const { return zip_name_locate(archive_, name.c_str(), 0) >= 0; }

  // The recorded sizes of entry `name`, checked against the file.
  zip_stat_t stat(const std::string& name, const std::string& what) const {
    const zip_int64_t index = zip_name_locate(archive_, name.c_str(), 0);
    check(index >= 0, path_, ": the archive lacks ", printable(name), " (", what, ")");
    zip_stat_t stat;
    zip_stat_init(&stat);
    check(zip_stat_index(archive_, static_cast<zip_uint64_t>(index), 0, &stat) == 0, path_, ": cannot read ", name,
          ": ", zip_strerror(archive_));
    const zip_uint64_t needed_fields = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    check((stat.valid & needed_fields) == needed_fields, path_, ": ", name, " has no recorded size");
    check(stat.comp_size <= file_bytes_, path_, ": ", name, " claims ", stat.comp_size, " bytes in a ",
          file_bytes_, "-byte file");
    if (stat.comp_method == ZIP_CM_STORE)
      check(stat.size == stat.comp_size, path_, ": ", name, " is stored uncompressed but its sizes differ (",
            stat.size, " and ", stat.comp_size, " bytes)");
    else if (stat.comp_method != ZIP_CM_DEFLATE)
      throw Error(str_cat(path_, ": ", name, " uses zip compression method ", stat.comp_method,
                          "; checkpoints are stored or deflated"));
    return stat;
  }

  // The size entry `name` records (uncompressed); `what` says in errors what
  // it is. Nothing is decompressed.
  std::uint64_t size_of(const std::string& name, const std::string& what) const { return stat(name, what).size; }

  // The uncompressed bytes of entry `name`, which must be `expected_bytes`
  // long when that is given: checked before anything is decompressed, as is
  // the archive's budget of inflated bytes (limits::kInflateRatio).
  std::vector<unsigned char> read(const std::string& name, const std::string& what,
                                  std::optional<std::uint64_t> expected_bytes = std::nullopt) {
    const zip_stat_t stat = this->stat(name, what);
    if (expected_bytes)
      check(stat.size == *expected_bytes, path_, ": ", name, " (", what, ") holds ", stat.size,
            " bytes, but its tensors declare ", *expected_bytes);
    if (stat.comp_method == ZIP_CM_DEFLATE) {
      check(stat.size <= inflate_budget_, path_, ": ", name, " (", what, ") inflates ", stat.comp_size,
            " bytes to ", stat.size, ", beyond the limit of ", limits::kInflateRatio,
            " times the file's size for the whole archive");
      inflate_budget_ -= stat.size;
    }
    const zip_int64_t index = zip_name_locate(archive_, name.c_str(), 0);

    std::vector<unsigned char> bytes(stat.size);
    zip_file_t* file = zip_fopen_index(archive_, static_cast<zip_uint64_t>(index), 0);
    check(file != nullptr, path_, ": cannot open ", name, ": ", zip_strerror(archive_));
    const zip_int64_t count = bytes.empty() ? 0 : zip_fread(file, bytes.data(), bytes.size());
    // libzip compares the checksum when a read reaches the end of the entry,
    // so one more read must find the end (and no data beyond the recorded size).
    unsigned char beyond_end;
    const zip_int64_t extra = count < 0 ? 0 : zip_fread(file, &beyond_end, 1);
    const std::string reason = count < 0 || extra < 0 ? zip_file_strerror(file)
                               : extra > 0            ? "the entry is longer than recorded"
                                                      : "the entry is shorter than recorded";
    zip_fclose(file);
    check(count == static_cast<zip_int64_t>(bytes.size()) && extra == 0, path_, ": cannot read ", name, ": ",
          reason);
    return bytes;
  }

 private:
  std::string path_;
  zip_t* archive_ = nullptr;
  std::uintmax_t file_bytes_ = 0;
  std::uint64_t inflate_budget_ = 0;  // bytes that deflated members may still inflate to
};

// ---- the pickled values --------------------------------------------------------------

// The torch.*Storage types a persistent id may name, and the dtype of each
// that armnet reads (the others parse, but a returned tensor of theirs is an error).
struct StorageType {
  const char* global;
  std::optional<DType> dtype;
};
const StorageType kStorageTypes[] = {
    {"torch.FloatStorage", DType::Float32}, {"torch.DoubleStorage", DType::Float64},
    {"torch.HalfStorage", DType::Float16},  {"torch.BFloat16Storage", DType::BFloat16},
    {"torch.LongStorage", DType::Int64},    {"torch.ByteStorage", DType::UInt8},
    {"torch.IntStorage", std::nullopt},     {"torch.ShortStorage", std::nullopt},
    {"torch.CharStorage", std::nullopt},    {"torch.BoolStorage", std::nullopt},
};

const StorageType* find_storage_type(const std::string& global) {
  for (const StorageType& type : kStorageTypes)
    if (global == type.global) return &type;
  return nullptr;
}

const std::set<std::string>& allowed_callables() {
  static const std::set<std::string> names = {
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state", "torch.device"};
  return names;
}

// One unpickled value. A checkpoint holds a small tree of them; tensors are
// described (storage, offset, size, stride) and read later.
struct Value {
  enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  std::int64_t integer = 0;                         // Bool (0 or 1), Int; Storage its declared elements
  double real = 0.0;                                // Float
  std::string text;                                 // String; Global "module.name"; Storage its key
  std::vector<Value*> items;                        // Tuple, List
  std::vector<std::pair<Value*, Value*>> entries;   // Dict, in insertion order
  const StorageType* storage_type = nullptr;        // Storage
  const Value* storage = nullptr;                   // Tensor: its Storage value
  std::int64_t offset = 0;                          // Tensor: in elements
  Shape shape;                                      // Tensor
  Shape strides;                                    // Tensor: in elements
};

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
  }
  return "value";
}

// The entry of `dict` under string key `key` (the last one if repeated).
const Value* find_entry(const Value& dict, const std::string& key) {
  const Value* found = nullptr;
  for (const auto& [entry_key, value] : dict.entries)
    if (entry_key->kind == Value::Kind::String && entry_key->text == key) found = value;
  return found;
}

// ---- the unpickler ---------------------------------------------------------------

// The opcodes a checkpoint uses (pickle protocol 2, plus FRAME, MEMOIZE,
// STACK_GLOBAL and BINUNICODE8 of protocol 4).
enum class Opcode : std::uint8_t {
  MARK = '(', STOP = '.', BININT = 'J', BININT1 = 'K', BININT2 = 'M', NONE = 'N', BINPERSID = 'Q',
  REDUCE = 'R', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', APPENDS = 'e', BINGET = 'h',
  LONG_BINGET = 'j', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', SETITEMS = 'u',
  EMPTY_DICT = '}', EMPTY_LIST = ']', EMPTY_TUPLE = ')', BINFLOAT = 'G', PROTO = 0x80, TUPLE1 = 0x85,
  TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
};

// The name of every pickle opcode, for the error that refuses one.
const char* opcode_name(std::uint8_t opcode) {
  static const std::map<std::uint8_t, const char*> names = {
      {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"}, {'F', "FLOAT"},
      {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'L', "LONG"}, {'M', "BININT2"}, {'N', "NONE"},
      {'P', "PERSID"}, {'Q', "BINPERSID"}, {'R', "REDUCE"}, {'S', "STRING"}, {'T', "BINSTRING"},
      {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"}, {'X', "BINUNICODE"}, {'a', "APPEND"}, {'b', "BUILD"},
      {'c', "GLOBAL"}, {'d', "DICT"}, {'}', "EMPTY_DICT"}, {'e', "APPENDS"}, {'g', "GET"}, {'h', "BINGET"},
      {'i', "INST"}, {'j', "LONG_BINGET"}, {'l', "LIST"}, {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"},
      {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {'s', "SETITEM"}, {'t', "TUPLE"}, {')', "EMPTY_TUPLE"},
      {'u', "SETITEMS"}, {'G', "BINFLOAT"}, {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"}, {0x80, "PROTO"},
      {0x81, "NEWOBJ"}, {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"},
      {0x87, "TUPLE3"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {0x8a, "LONG1"}, {0x8b, "LONG4"},
      {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"}, {0x8e, "BINBYTES8"}, {0x8f, "EMPTY_SET"},
      {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x92, "NEWOBJ_EX"}, {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"},
      {0x95, "FRAME"}, {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}};
  const auto found = names.find(opcode);
  return found == names.end() ? "not a pickle opcode" : found->second;
}

// "FILE: data.pkl byte 120", the place an error names; formatted only when
// an error is raised (every opcode's checks name it).
struct PickleLocation {
  const std::string* path;
  std::size_t byte;
};
std::ostream& operator<<(std::ostream& out, const PickleLocation& at) {
  return out << *at.path << ": data.pkl byte " << at.byte;
}

class Unpickler {
 public:
  Unpickler(const std::string& path, const std::vector<unsigned char>& pickle) : path_(path), pickle_(pickle) {}

  // Runs the pickle to its STOP and returns the value it built (owned by this
  // Unpickler).
  const Value* load() {
    while (true) {
      opcode_position_ = position_;
      const std::uint8_t opcode = read_byte();
      switch (static_cast<Opcode>(opcode)) {
        case Opcode::PROTO: {
          const std::uint8_t version = read_byte();
          check(version <= 5, where(), ": unknown pickle protocol ", int{version});
          break;
        }
        case Opcode::FRAME: read_unsigned(8); break;  // framing only groups the opcodes that follow
        case Opcode::STOP: return pop();
        case Opcode::MARK:
          count_reference();
          marks_.push_back(stack_.size());
          break;

        case Opcode::NONE: push(make(Value::Kind::None)); break;
        case Opcode::NEWTRUE: push(make_bool(true)); break;
        case Opcode::NEWFALSE: push(make_bool(false)); break;
        case Opcode::BININT: push(make_int(static_cast<std::int32_t>(read_unsigned(4)))); break;
        case Opcode::BININT1: push(make_int(static_cast<std::int64_t>(read_unsigned(1)))); break;
        case Opcode::BININT2: push(make_int(static_cast<std::int64_t>(read_unsigned(2)))); break;
        case Opcode::LONG1: push(make_int(read_long(read_unsigned(1)))); break;
        case Opcode::BINFLOAT: push(make_float(read_big_endian_double())); break;
        case Opcode::SHORT_BINUNICODE: push(make_string(read_text(read_unsigned(1)))); break;
        case Opcode::BINUNICODE: push(make_string(read_text(read_unsigned(4)))); break;
        case Opcode::BINUNICODE8: push(make_string(read_text(read_unsigned(8)))); break;

        case Opcode::EMPTY_DICT: push(make(Value::Kind::Dict)); break;
        case Opcode::EMPTY_LIST: push(make(Value::Kind::List)); break;
        case Opcode::EMPTY_TUPLE: push(make(Value::Kind::Tuple)); break;
        case Opcode::TUPLE: push(make_tuple(pop_to_mark())); break;
        case Opcode::TUPLE1: push(make_tuple(pop_items(1))); break;
        case Opcode::TUPLE2: push(make_tuple(pop_items(2))); break;
        case Opcode::TUPLE3: push(make_tuple(pop_items(3))); break;

        case Opcode::BINPUT: memo_put(read_unsigned(1)); break;
        case Opcode::LONG_BINPUT: memo_put(read_unsigned(4)); break;
        case Opcode::MEMOIZE: memo_put(memo_.size()); break;
        case Opcode::BINGET: push(memo_get(read_unsigned(1))); break;
        case Opcode::LONG_BINGET: push(memo_get(read_unsigned(4))); break;

        case Opcode::SETITEM: {
          Value* value = pop();
          Value* key = pop();
          top_of_kind(Value::Kind::Dict, "SETITEM")->entries.emplace_back(key, value);
          break;
        }
        case Opcode::SETITEMS: {
          const std::vector<Value*> items = pop_to_mark();
          check(items.size() % 2 == 0, where(), ": SETITEMS with an odd number of keys and values");
          Value* dict = top_of_kind(Value::Kind::Dict, "SETITEMS");
          for (std::size_t i = 0; i < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
          break;
        }
        case Opcode::APPEND: {
          Value* value = pop();
          top_of_kind(Value::Kind::List, "APPEND")->items.push_back(value);
          break;
        }
        case Opcode::APPENDS: {
          const std::vector<Value*> items = pop_to_mark();
          Value* list = top_of_kind(Value::Kind::List, "APPENDS");
          list->items.insert(list->items.end(), items.begin(), items.end());
          break;
        }

        case Opcode::GLOBAL: {
          const std::string module = read_line();
          const std::string name = read_line();
          push(make_global(module + "." + name));
          break;
        }
        case Opcode::STACK_GLOBAL: {
          const Value* name = pop();
          const Value* module = pop();
          check(module->kind == Value::Kind::String && name->kind == Value::Kind::String, where(),
                ": STACK_GLOBAL needs two strings");
          push(make_global(module->text + "." + name->text));
          break;
        }
        case Opcode::BINPERSID: push(load_persistent_storage(pop())); break;
        case Opcode::REDUCE: {
          const Value* arguments = pop();
          const Value* callable = pop();
          push(call(*callable, *arguments));
          break;
        }
        case Opcode::BUILD:
          // The only object a state dict builds is the OrderedDict whose
          // `_metadata` attribute (module versions) torch.save keeps; armnet
          // has no use for it.
          pop();
          top_of_kind(Value::Kind::Dict, "BUILD");
          break;

        default:
          throw Error(str_cat(where(), ": pickle opcode 0x", std::hex, std::setw(2), std::setfill('0'),
                              int{opcode}, " (", opcode_name(opcode), ") is not allowed in a state dict"));
      }
    }
  }

 private:
  PickleLocation where() const { return {&path_, opcode_position_}; }

  // ---- reading the bytes ----
  std::uint8_t read_byte() {
    check(position_ < pickle_.size(), where(), ": the pickle ends without STOP");
    return pickle_[position_++];
  }
  const unsigned char* read_bytes(std::uint64_t count) {
    check(count <= pickle_.size() - position_, where(), ": the pickle ends inside an opcode's argument");
    const unsigned char* bytes = pickle_.data() + position_;
    position_ += count;
    return bytes;
  }
  std::uint64_t read_unsigned(int byte_count) {  // little-endian
    const unsigned char* bytes = read_bytes(static_cast<std::uint64_t>(byte_count));
    std::uint64_t value = 0;
    for (int i = byte_count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
    return value;
  }
  std::int64_t read_long(std::uint64_t byte_count) {  // LONG1: two's complement, little-endian
    check(byte_count <= 8, where(), ": a ", byte_count, "-byte integer does not fit in 64 bits");
    if (byte_count == 0) return 0;
    const std::uint64_t bits = read_unsigned(static_cast<int>(byte_count));
    const int unused_bits = 64 - 8 * static_cast<int>(byte_count);
    return static_cast<std::int64_t>(bits << unused_bits) >> unused_bits;  // sign-extends
  }
  double read_big_endian_double() {
    const unsigned char* bytes = read_bytes(8);
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | bytes[i];
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }
  std::string read_text(std::uint64_t byte_count) {
    const unsigned char* bytes = read_bytes(byte_count);
    return std::string(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(byte_count));
  }
  std::string read_line() {  // GLOBAL's arguments end with '\n'
    const std::size_t start = position_;
    while (position_ < pickle_.size() && pickle_[position_] != '\n') ++position_;
    check(position_ < pickle_.size(), where(), ": the pickle ends inside GLOBAL");
    return std::string(reinterpret_cast<const char*>(pickle_.data() + start), position_++ - start);
  }

  // ---- the stack and the memo ----
  // Every push and MARK is a pointer that some stack, list, tuple or dict
  // may keep: counted, so that repeating one memo entry (BINGET) millions of
  // times is bounded like building millions of values.
  void count_reference() {
    check(++references_ <= limits::kPickleValues, where(), ": the pickle pushes more than ", limits::kPickleValues,
          " values (the limit; a state dict needs about 15 per tensor)");
  }
  void push(Value* value) {
    count_reference();
    stack_.push_back(value);
  }
  Value* top() const {
    check(!stack_.empty(), where(), ": the pickle's stack is empty");
    return stack_.back();
  }
  Value* top_of_kind(Value::Kind kind, const char* opcode) const {
    Value* value = top();
    check(value->kind == kind, where(), ": ", opcode, " on a value of type ", kind_name(value->kind),
          " is not allowed");
    return value;
  }
  Value* pop() {
    Value* value = top();
    stack_.pop_back();
    return value;
  }
  std::vector<Value*> pop_items(std::size_t count) {
    check(stack_.size() >= count, where(), ": the pickle's stack holds fewer than ", count, " values");
    std::vector<Value*> items(stack_.end() - static_cast<std::ptrdiff_t>(count), stack_.end());
    stack_.resize(stack_.size() - count);
    return items;
  }
  std::vector<Value*> pop_to_mark() {
    check(!marks_.empty() && marks_.back() <= stack_.size(), where(), ": no MARK to pop to");
    std::vector<Value*> items = pop_items(stack_.size() - marks_.back());
    marks_.pop_back();
    return items;
  }
  void memo_put(std::uint64_t index) {
    Value* value = top();
    const auto [entry, inserted] = memo_.try_emplace(index, value);
    if (inserted)
      check(static_cast<std::int64_t>(memo_.size()) <= limits::kPickleMemoEntries, where(), ": more than ",
            limits::kPickleMemoEntries, " memo entries (the limit)");
    else
      entry->second = value;
  }
  Value* memo_get(std::uint64_t index) const {
    const auto found = memo_.find(index);
    check(found != memo_.end(), where(), ": memo entry ", index, " was never stored");
    return found->second;
  }

  // ---- making values ----
  Value* make(Value::Kind kind) {
    check(static_cast<std::int64_t>(values_.size()) < limits::kPickleValues, where(), ": the pickle builds more than ",
          limits::kPickleValues, " values (the limit; a state dict needs about 15 per tensor)");
    values_.emplace_back();
    values_.back().kind = kind;
    return &values_.back();
  }
  Value* make_bool(bool flag) {
    Value* value = make(Value::Kind::Bool);
    value->integer = flag ? 1 : 0;
    return value;
  }
  Value* make_int(std::int64_t integer) {
    Value* value = make(Value::Kind::Int);
    value->integer = integer;
    return value;
  }
  Value* make_float(double real) {
    Value* value = make(Value::Kind::Float);
    value->real = real;
    return value;
  }
  Value* make_string(std::string text) {
    Value* value = make(Value::Kind::String);
    value->text = std::move(text);
    return value;
  }
  Value* make_tuple(std::vector<Value*> items) {
    Value* value = make(Value::Kind::Tuple);
    value->items = std::move(items);
    return value;
  }
  Value* make_global(const std::string& qualified_name) {
    check(allowed_callables().count(qualified_name) > 0 || find_storage_type(qualified_name) != nullptr,
          where(), ": global '", printable(qualified_name), "' is not allowed in a state dict (armnet reads data only)");
    Value* value = make(Value::Kind::Global);
    value->text = qualified_name;
    return value;
  }

  // BINPERSID: ('storage', torch.FloatStorage, key, location, numel).
  Value* load_persistent_storage(const Value* id) {
    const bool well_formed = id->kind == Value::Kind::Tuple && id->items.size() == 5 &&
                             id->items[0]->kind == Value::Kind::String && id->items[0]->text == "storage" &&
                             id->items[1]->kind == Value::Kind::Global &&
                             find_storage_type(id->items[1]->text) != nullptr &&
                             id->items[2]->kind == Value::Kind::String && id->items[3]->kind == Value::Kind::String &&
                             id->items[4]->kind == Value::Kind::Int;
    check(well_formed, where(), ": a persistent id that is not ('storage', type, key, location, numel)");
    const std::int64_t numel = id->items[4]->integer;
    check(numel >= 0 && numel <= limits::kTensorElements, where(), ": storage '", printable(id->items[2]->text),
          "' declares ", numel, " elements (the limit is ", limits::kTensorElements, ")");
    Value* storage = make(Value::Kind::Storage);
    storage->storage_type = find_storage_type(id->items[1]->text);
    storage->text = id->items[2]->text;
    storage->integer = numel;
    return storage;
  }

  // REDUCE: calls one of the allowed callables on a tuple of arguments.
  Value* call(const Value& callable, const Value& arguments) {
    check(callable.kind == Value::Kind::Global, where(), ": REDUCE of a value of type ", kind_name(callable.kind),
          " is not allowed");
    check(arguments.kind == Value::Kind::Tuple, where(), ": REDUCE with arguments of type ", kind_name(arguments.kind),
          " instead of a tuple");
    const std::string& name = callable.text;
    const std::vector<Value*>& items = arguments.items;
    if (name == "collections.OrderedDict") {
      check(items.empty(), where(), ": OrderedDict() with arguments");
      return make(Value::Kind::Dict);
    }
    if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(items);
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      // (tensor, requires_grad, backward_hooks[, state]): the tensor itself.
      check(items.size() >= 3 && items[0]->kind == Value::Kind::Tensor, where(), ": ", name,
            " without a tensor");
      return items[0];
    }
    if (name == "torch.device") {
      check(!items.empty() && items[0]->kind == Value::Kind::String, where(), ": torch.device without a name");
      return make_string(items[0]->text);
    }
    throw Error(str_cat(where(), ": calling '", name, "' is not allowed in a state dict"));
  }

  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
  Value* rebuild_tensor(const std::vector<Value*>& items) {
    auto is_int_tuple = [](const Value* value) {
      if (value->kind != Value::Kind::Tuple) return false;
      for (const Value* item : value->items)
        if (item->kind != Value::Kind::Int) return false;
      return true;
    };
    const bool well_formed = (items.size() == 6 || items.size() == 7) &&
                             items[0]->kind == Value::Kind::Storage && items[1]->kind == Value::Kind::Int &&
                             is_int_tuple(items[2]) && is_int_tuple(items[3]) &&
                             items[2]->items.size() == items[3]->items.size();
    check(well_formed, where(), ": _rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
    check(items[2]->items.size() <= limits::kTensorDims, where(), ": a tensor of ", items[2]->items.size(),
          " dimensions (the limit is ", limits::kTensorDims, ")");
    Value* tensor = make(Value::Kind::Tensor);
    tensor->storage = items[0];
    tensor->offset = items[1]->integer;
    for (const Value* size : items[2]->items) tensor->shape.push_back(size->integer);
    for (const Value* stride : items[3]->items) tensor->strides.push_back(stride->integer);
    return tensor;
  }

  std::string path_;
  const std::vector<unsigned char>& pickle_;
  std::size_t position_ = 0;
  std::size_t opcode_position_ = 0;
  std::vector<Value*> stack_;
  std::vector<std::size_t> marks_;  // stack sizes at each open MARK
  std::unordered_map<std::uint64_t, Value*> memo_;
  std::int64_t references_ = 0;  // pushes and MARKs so far
  std::deque<Value> values_;  // owns every value; a deque keeps their addresses
};

// ---- from descriptions to tensors ----------------------------------------------

// Reads each storage of the archive once, when a returned tensor first needs it.
class StorageCache {
 public:
  StorageCache(ZipArchive& archive, const std::string& folder) : archive_(archive), folder_(folder) {}

  // The bytes of `storage`, which must hold exactly the elements its
  // persistent id declares (checked before decompressing).
  const std::vector<unsigned char>& bytes(const Value& storage, std::size_t element_size, const std::string& tensor_key) {
    auto found = storages_.find(storage.text);
    if (found == storages_.end()) {
      const std::string entry = folder_ + "data/" + storage.text;
      const std::uint64_t declared = static_cast<std::uint64_t>(storage.integer) * element_size;
      found = storages_
                  .emplace(storage.text,
                           archive_.read(entry, str_cat("the storage of '", printable(tensor_key), "'"), declared))
                  .first;
    }
    return found->second;
  }

 private:
  ZipArchive& archive_;
  std::string folder_;
  std::map<std::string, std::vector<unsigned char>> storages_;
};

bool is_row_major(const Shape& shape, const Shape& strides) {
  std::int64_t expected = 1;
  for (std::size_t axis = shape.size(); axis-- > 0;) {
    if (shape[axis] != 1 && strides[axis] != expected) return false;
    expected *= shape[axis];
  }
  return true;
}

// Copies the elements of a strided view of `storage` into the row-major `out`.
void gather_strided(const unsigned char* storage, std::int64_t offset, const Shape& shape, const Shape& strides,
                    std::size_t element_size, unsigned char* out) {
  const std::int64_t count = shape_numel(shape);
  if (count == 0) return;
  if (is_row_major(shape, strides)) {
    std::memcpy(out, storage + offset * static_cast<std::int64_t>(element_size),
                static_cast<std::size_t>(count) * element_size);
    return;
  }
  std::vector<std::int64_t> index(shape.size(), 0);
  std::int64_t source = offset;
  for (std::int64_t i = 0; i < count; ++i) {
    std::memcpy(out + i * static_cast<std::int64_t>(element_size),
                storage + source * static_cast<std::int64_t>(element_size), element_size);
    // Next multi-index, the last axis fastest.
    for (std::size_t axis = shape.size(); axis-- > 0;) {
      if (++index[axis] < shape[axis]) {
        source += strides[axis];
        break;
      }
      source -= (shape[axis] - 1) * strides[axis];
      index[axis] = 0;
    }
  }
}

// Checks that the view `description` reads only inside its storage's
// declared elements, and reads no element twice (stride 0, overlapping
// strides): a weight is a plain array, and a repeated view would let a tiny
// storage claim an enormous tensor. All before any byte is decompressed.
void check_view(const std::string& where, const Value& description, std::int64_t storage_elements) {
  const std::string layout = str_cat(" (size ", shape_str(description.shape), ", stride ",
                                     shape_str(description.strides), ", storage offset ", description.offset, ")");
  check(description.offset >= 0, where, " has a negative storage offset", layout);
  std::int64_t element_count = 1;
  std::vector<std::pair<std::int64_t, std::int64_t>> axes;  // (stride, size) of the axes longer than 1
  for (std::size_t axis = 0; axis < description.shape.size(); ++axis) {
    const std::int64_t size = description.shape[axis], stride = description.strides[axis];
    check(size >= 0 && stride >= 0, where, " has a negative size or stride", layout);
    check(!__builtin_mul_overflow(element_count, size, &element_count) && element_count <= limits::kTensorElements,
          where, " has more than the limit of ", limits::kTensorElements, " elements", layout);
    if (size > 1) axes.emplace_back(stride, size);
  }
  if (element_count == 0) return;
  // Sorted by stride, each axis must step over everything the smaller ones
  // span; then no two indices reach the same element.
  std::sort(axes.begin(), axes.end());
  std::int64_t span = 1;  // storage elements spanned by the axes so far
  for (const auto& [stride, size] : axes) {
    check(stride != 0, where, " repeats elements (stride 0)", layout, "; weights must not");
    check(stride >= span, where, " reads some elements twice (overlapping strides)", layout, "; weights must not");
    std::int64_t reach = 0;
    check(!__builtin_mul_overflow(size - 1, stride, &reach) && !__builtin_add_overflow(span, reach, &span), where,
          " reaches past any storage", layout);
  }
  std::int64_t last_element = 0;  // the largest storage index it reads
  check(!__builtin_add_overflow(description.offset, span - 1, &last_element) && last_element < storage_elements,
        where, " reads element ", last_element, " of a ", storage_elements, "-element storage", layout);
}

// The contiguous CPU tensor that `description` views.
Tensor materialise(const std::string& path, const std::string& key, const Value& description,
                   StorageCache& storages) {
  const std::string where = str_cat(path, ": tensor '", printable(key), "'");
  const StorageType& type = *description.storage->storage_type;
  check(type.dtype.has_value(), where, " is stored as ", type.global, ", a type armnet does not read");
  const DType dtype = *type.dtype;
  const std::size_t element_size = dtype_size(dtype);
  check_view(where, description, description.storage->integer);
  const std::vector<unsigned char>& storage = storages.bytes(*description.storage, element_size, key);
  // Tensors that share a storage read it once (StorageCache), so each must
  // declare it alike: a later one declaring more would read past its end.
  const std::uint64_t declared = static_cast<std::uint64_t>(description.storage->integer) * element_size;
  check(storage.size() == declared, where, " declares its storage '", printable(description.storage->text), "' as ",
        description.storage->integer, " elements of ", type.global, " (", declared,
        " bytes), but an earlier tensor declared it as ", storage.size(), " bytes");
  Tensor tensor = Tensor::empty(description.shape, dtype);
  gather_strided(storage.data(), description.offset, description.shape, description.strides, element_size,
                 static_cast<unsigned char*>(tensor.data_ptr()));
  return tensor;
}

// The dict of tensors within the checkpoint's top-level value.
const Value& select_state_dict(const std::string& path, const Value& root) {
  check(root.kind == Value::Kind::Dict, path, ": the checkpoint holds a value of type ", kind_name(root.kind),
        ", not a dict of tensors");
  for (const char* key : {"model_state_dict", "state_dict"}) {
    const Value* entry = find_entry(root, key);
    if (entry == nullptr) continue;
    check(entry->kind == Value::Kind::Dict, path, ": its '", key, "' entry is of type ", kind_name(entry->kind),
          ", not a dict of tensors");
    return *entry;
  }
  return root;
}

// torch 2.x records the byte order of the storages; armnet reads little-endian.
void check_byte_order(const std::string& path, ZipArchive& archive, const std::string& folder) {
  const std::string entry = folder + "byteorder";
  if (!archive.contains(entry)) return;
  const std::uint64_t size = archive.size_of(entry, "the byte order");
  check(size <= 16, path, ": ", entry, " is ", size, " bytes; it should say little or big");
  const std::vector<unsigned char> bytes = archive.read(entry, "the byte order");
  const std::string order(bytes.begin(), bytes.end());
  check(order.rfind("little", 0) == 0, path, ": its storages are '", printable(order),
        "'-endian; armnet reads little-endian");
}

}  // namespace

NamedTensors read_torch_checkpoint(const std::string& path) {
  ZipArchive archive(path);
  const std::string folder = archive.folder();
  check_byte_order(path, archive, folder);
  const std::string pickle_entry = folder + "data.pkl";
  const std::uint64_t pickle_bytes = archive.size_of(pickle_entry, "the pickled checkpoint");
  check(pickle_bytes <= limits::kPickleBytes, path, ": ", pickle_entry, " is ", pickle_bytes,
        " bytes, more than the limit of ", limits::kPickleBytes);
  const std::vector<unsigned char> pickle = archive.read(pickle_entry, "the pickled checkpoint");
  Unpickler unpickler(path, pickle);
  const Value& state_dict = select_state_dict(path, *unpickler.load());

  StorageCache storages(archive, folder);
  NamedTensors tensors;
  std::set<std::string> keys;
  for (const auto& [key, value] : state_dict.entries) {
    check(key->kind == Value::Kind::String, path, ": the state dict has a key of type ", kind_name(key->kind),
          "; its keys must be strings");
    if (value->kind != Value::Kind::Tensor) {
      if (key->text == "_metadata") continue;
      throw Error(str_cat(path, ": state dict entry '", printable(key->text), "' is of type ", kind_name(value->kind),
                          ", not a tensor"));
    }
    check(keys.insert(key->text).second, path, ": state dict key '", printable(key->text), "' appears twice");
    tensors.emplace_back(key->text, materialise(path, key->text, *value, storages));
  }
  return tensors;
}

}  // namespace armnet
