// ${name} - a waPC actor for wascc-py, in AssemblyScript.
//
// HandleRequest (wascc:http_server): writes one log line through wascc:logging, then answers
// 200 text/plain with a greeting that names the request path.
//
// @wapc/as-guest is the waPC guest runtime (handler registry, host calls), @wapc/as-msgpack
// the MessagePack reader and writer the messages are made of. Handlers are registered by the
// module's top-level code, which runs once when an instance starts.
import { handleAbort, handleCall, hostCall, register, Result } from "@wapc/as-guest";
import { Decoder, Encoder, Sizer, Writer } from "@wapc/as-msgpack";

// The fields of the HTTP request this actor reads (the rest are skipped).
class Request {
  method: string = "";
  path: string = "";
}

function decodeRequest(payload: ArrayBuffer): Request {
  const decoder = new Decoder(payload);
  const request = new Request();
  let fields = decoder.readMapSize();
  while (fields > 0) {
    fields--;
    const field = decoder.readString();
    if (field == "method") {
      request.method = decoder.readString();
    } else if (field == "path") {
      request.path = decoder.readString();
    } else {
      decoder.skip();
    }
  }
  return request;
}

// The HTTP response: {statusCode, status, header, body} (every field is written).
function writeResponse(writer: Writer, body: ArrayBuffer): void {
  writer.writeMapSize(4);
  writer.writeString("statusCode");
  writer.writeInt32(200);
  writer.writeString("status");
  writer.writeString("OK");
  writer.writeString("header");
  writer.writeMapSize(1);
  writer.writeString("content-type");
  writer.writeString("text/plain; charset=utf-8");
  writer.writeString("body");
  writer.writeByteArray(body);
}

// A WriteLog message of wascc:logging: {level, body} (levels: 1 error ... 3 info ... 5 trace).
function writeLogMessage(writer: Writer, level: i32, text: string): void {
  writer.writeMapSize(2);
  writer.writeString("level");
  writer.writeInt32(level);
  writer.writeString("body");
  writer.writeString(text);
}

function log(level: i32, text: string): Result<ArrayBuffer> {
  const sizer = new Sizer();
  writeLogMessage(sizer, level, text);
  const message = new ArrayBuffer(sizer.length);
  writeLogMessage(new Encoder(message), level, text);
  return hostCall("default", "wascc:logging", "WriteLog", message);
}

function handleRequest(payload: ArrayBuffer): Result<ArrayBuffer> {
  const request = decodeRequest(payload);
  const logged = log(3, "${name}: " + request.method + " " + request.path);
  if (!logged.isOk) {
    return Result.error<ArrayBuffer>(logged.error()!);
  }
  const body = String.UTF8.encode("Hello from ${name}! You asked for " + request.path + "\n");
  const sizer = new Sizer();
  writeResponse(sizer, body);
  const response = new ArrayBuffer(sizer.length);
  writeResponse(new Encoder(response), body);
  return Result.ok<ArrayBuffer>(response);
}

register("HandleRequest", handleRequest);

// The waPC entry point: the host calls every operation through it. Keep it in this file.
export function __guest_call(operation_size: usize, payload_size: usize): bool {
  return handleCall(operation_size, payload_size);
}

// AssemblyScript calls abort() on a failed assertion or a thrown error. `wascc build` passes
// `--use abort=assembly/index/abort`, so that it lands here (and the call fails with the
// message as its error) instead of being imported from the host as env.abort.
function abort(
  message: string | null,
  fileName: string | null,
  lineNumber: u32,
  columnNumber: u32,
): void {
  handleAbort(message, fileName, lineNumber, columnNumber);
}
