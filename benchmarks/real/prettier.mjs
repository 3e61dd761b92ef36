/* global process, console */
// Workload: prettier formats a large, badly formatted JavaScript file.
import * as prettier from 'prettier';
const functions = Number(process.argv[2] ?? 150);
let src = '';
for (let i = 0; i < functions; i++) {
  src += `export function f${i}(a,b,{c=1,d=[1,2,3]}={}){const x=a+b*c;if(x>${i}){return d.map(v=>v*x).filter(Boolean).reduce((s,v)=>s+v,0)}else{return {a,b,c,list:[...d,x],nested:{deep:{value:\`t\${x}\`}}}}}\n`;
}
console.log((await prettier.format(src, { parser: 'babel' })).length);
